using System.Globalization;
using System.Net.Http.Headers;
using Maas.Client.Datasets;
using Maas.Client.Registry;

namespace Maas.Client;

/// <summary>Datasets: create, list, upload versions (in one request or resumable, with schema and statistics), preview, delete.</summary>
public sealed partial class MaasClient
{
    /// <summary>The datasets the key may see.</summary>
    public Task<DatasetList> ListDatasetsAsync(CancellationToken cancellationToken = default) =>
        SendAsync<DatasetList>(HttpMethod.Get, "api/v1/datasets", null, cancellationToken);

    /// <summary>One dataset with its versions (without statistics).</summary>
    public Task<DatasetInfo> GetDatasetAsync(string name, CancellationToken cancellationToken = default) =>
        SendAsync<DatasetInfo>(HttpMethod.Get, $"api/v1/datasets/{Escape(name)}", null, cancellationToken);

    /// <summary>Creates a dataset (409 <c>dataset_exists</c> when it exists).</summary>
    public Task<DatasetInfo> CreateDatasetAsync(string name, string? visibility = null, string? description = null, CancellationToken cancellationToken = default) =>
        SendAsync<DatasetInfo>(HttpMethod.Post, "api/v1/datasets", new { name, visibility, description }, cancellationToken);

    /// <summary>One version with its schema and column statistics.</summary>
    public Task<DatasetVersionInfo> GetDatasetVersionAsync(string name, int version, CancellationToken cancellationToken = default) =>
        SendAsync<DatasetVersionInfo>(HttpMethod.Get, $"api/v1/datasets/{Escape(name)}/versions/{version}", null, cancellationToken);

    /// <summary>The first <paramref name="limit"/> rows of a version.</summary>
    public Task<DatasetPreview> PreviewDatasetAsync(string name, int version, int? limit = null, CancellationToken cancellationToken = default) =>
        SendAsync<DatasetPreview>(HttpMethod.Get, $"api/v1/datasets/{Escape(name)}/versions/{version}/preview" + Query(("limit", limit?.ToString(CultureInfo.InvariantCulture))),
        null, cancellationToken);

    /// <summary>Deletes a dataset; <paramref name="force"/> also while model versions name it in their lineage.</summary>
    public Task DeleteDatasetAsync(string name, bool force = false, CancellationToken cancellationToken = default) =>
        SendAsync(HttpMethod.Delete, $"api/v1/datasets/{Escape(name)}" + Query(("force", force ? "true" : null)), null, cancellationToken);

    /// <summary>Deletes one version of a dataset.</summary>
    public Task DeleteDatasetVersionAsync(string name, int version, bool force = false, CancellationToken cancellationToken = default) =>
        SendAsync(HttpMethod.Delete, $"api/v1/datasets/{Escape(name)}/versions/{version}" + Query(("force", force ? "true" : null)), null, cancellationToken);

    /// <summary>
    /// Uploads <paramref name="content"/> as a new version (streamed; the file name's extension picks the format),
    /// reporting the bytes sent to <paramref name="progress"/>. Returns the version with its schema and statistics.
    /// </summary>
    public async Task<DatasetVersionInfo> UploadDatasetVersionAsync(
        string name, Stream content, string fileName, DatasetUploadOptions? options = null, IProgress<long>? progress = null, CancellationToken cancellationToken = default)
    {
        options ??= new DatasetUploadOptions();
        using var body = new StreamContent(new ProgressStream(content, 0, progress), 1 << 20);
        body.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        if (content.CanSeek)
        {
            body.Headers.ContentLength = content.Length - content.Position;
        }

        body.Headers.Add("X-Maas-Filename", fileName);
        var query = Query(("schema", options.Schema), ("image_size", options.ImageSize));
        using var request = new HttpRequestMessage(HttpMethod.Post, $"api/v1/datasets/{Escape(name)}/versions{query}") { Content = body };
        using var response = await SendRawAsync(request, cancellationToken);
        return await ReadAsync<DatasetVersionInfo>(response, cancellationToken);
    }

    /// <summary>Starts a resumable upload of <paramref name="fileName"/> (its extension picks the format) into a dataset.</summary>
    public Task<DatasetUploadSession> CreateDatasetUploadAsync(string name, string fileName, long? size = null, string? sha256 = null,
        CancellationToken cancellationToken = default) =>
        SendAsync<DatasetUploadSession>(HttpMethod.Post, $"api/v1/datasets/{Escape(name)}/uploads", new { filename = fileName, size, sha256 }, cancellationToken);

    /// <summary>A resumable dataset upload with the offset the next chunk must start at.</summary>
    public Task<DatasetUploadSession> GetDatasetUploadAsync(string name, string id, CancellationToken cancellationToken = default) =>
        SendAsync<DatasetUploadSession>(HttpMethod.Get, $"api/v1/datasets/{Escape(name)}/uploads/{Escape(id)}", null, cancellationToken);

    /// <summary>Abandons a resumable dataset upload and its bytes.</summary>
    public Task DeleteDatasetUploadAsync(string name, string id, CancellationToken cancellationToken = default) =>
        SendAsync(HttpMethod.Delete, $"api/v1/datasets/{Escape(name)}/uploads/{Escape(id)}", null, cancellationToken);

    /// <summary>Sends one chunk of a dataset upload at <paramref name="offset"/>; returns the session's new offset.</summary>
    public Task<long> UploadDatasetChunkAsync(string name, string id, long offset, ReadOnlyMemory<byte> chunk, CancellationToken cancellationToken = default) =>
        PatchChunkAsync($"api/v1/datasets/{Escape(name)}/uploads/{Escape(id)}", offset, chunk, cancellationToken);

    /// <summary>Turns a finished resumable upload into the dataset's next version, read as a raw upload would be.</summary>
    public async Task<DatasetVersionInfo> CompleteDatasetUploadAsync(string name, string id, DatasetUploadOptions? options = null, CancellationToken cancellationToken = default)
    {
        options ??= new DatasetUploadOptions();
        var query = Query(("upload", id), ("schema", options.Schema), ("image_size", options.ImageSize));
        using var request = new HttpRequestMessage(HttpMethod.Post, $"api/v1/datasets/{Escape(name)}/versions{query}");
        using var response = await SendRawAsync(request, cancellationToken);
        return await ReadAsync<DatasetVersionInfo>(response, cancellationToken);
    }

    /// <summary>
    /// Uploads a file as a new dataset version in chunks through a resumable session: a broken connection is retried
    /// from the offset the server holds, and an interrupted upload goes on later with
    /// <see cref="ResumableUploadOptions.SessionId"/>. <paramref name="sessionStarted"/> gets the session once it exists.
    /// </summary>
    public async Task<DatasetVersionInfo> UploadDatasetVersionResumableAsync(
        string name,
        string path,
        DatasetUploadOptions? options = null,
        ResumableUploadOptions? resumable = null,
        Action<DatasetUploadSession>? sessionStarted = null,
        IProgress<long>? progress = null,
        CancellationToken cancellationToken = default)
    {
        resumable ??= new ResumableUploadOptions();
        CheckChunkSize(resumable);
        await using var file = File.OpenRead(path);
        var session = resumable.SessionId is { } existing
            ? await GetDatasetUploadAsync(name, existing, cancellationToken)
            : await CreateDatasetUploadAsync(name, Path.GetFileName(path), file.Length, null, cancellationToken);
        sessionStarted?.Invoke(session);
        await SendFileInChunksAsync(
            file,
            session.Offset,
            resumable,
            (offset, chunk) => UploadDatasetChunkAsync(name, session.Id, offset, chunk, cancellationToken),
            async () => (await GetDatasetUploadAsync(name, session.Id, cancellationToken)).Offset,
            progress,
            cancellationToken);
        return await CompleteDatasetUploadAsync(name, session.Id, options, cancellationToken);
    }
}
