using System.Globalization;
using System.Net.Http.Headers;
using Maas.Client.Datasets;
using Maas.Client.Registry;

namespace Maas.Client;

/// <summary>Datasets: create, list, upload versions (with schema and statistics), preview, delete.</summary>
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
        SendAsync<DatasetPreview>(HttpMethod.Get, $"api/v1/datasets/{Escape(name)}/versions/{version}/preview" + Query(("limit", limit?.ToString(CultureInfo.InvariantCulture))), null, cancellationToken);

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
}
