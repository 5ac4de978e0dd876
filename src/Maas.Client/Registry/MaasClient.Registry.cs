using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using Maas.Client.Jobs;
using Maas.Client.Registry;

namespace Maas.Client;

/// <summary>The model registry: models, versions, uploads, imports, aliases.</summary>
public sealed partial class MaasClient
{
    /// <summary>Lists models (ordered by name), filtered by <paramref name="query"/>.</summary>
    public Task<ModelList> ListModelsAsync(ModelQuery? query = null, CancellationToken cancellationToken = default)
    {
        query ??= new ModelQuery();
        var parameters = new List<(string, string?)>
        {
            ("q", query.Search), ("task", query.Task), ("format", query.Format), ("owner", query.Owner),
            ("limit", query.Limit?.ToString(CultureInfo.InvariantCulture)), ("offset", query.Offset?.ToString(CultureInfo.InvariantCulture)),
        };
        parameters.AddRange((query.Tags ?? []).Select(t => ("tag", (string?)t)));
        return SendAsync<ModelList>(HttpMethod.Get, "api/v1/models" + Query([.. parameters]), null, cancellationToken);
    }

    /// <summary>One model with its versions and aliases.</summary>
    public Task<ModelInfo> GetModelAsync(string name, CancellationToken cancellationToken = default) =>
        SendAsync<ModelInfo>(HttpMethod.Get, $"api/v1/models/{Escape(name)}", null, cancellationToken);

    /// <summary>Registers a model.</summary>
    public Task<ModelInfo> CreateModelAsync(NewModel model, CancellationToken cancellationToken = default) =>
        SendAsync<ModelInfo>(HttpMethod.Post, "api/v1/models", model, cancellationToken);

    /// <summary>Deletes a model with every version; <paramref name="force"/> also when it has aliases or versions in use.</summary>
    public Task DeleteModelAsync(string name, bool force = false, CancellationToken cancellationToken = default) =>
        SendAsync(HttpMethod.Delete, $"api/v1/models/{Escape(name)}" + Query(("force", force ? "true" : null)), null, cancellationToken);

    /// <summary>The versions of a model, ascending.</summary>
    public Task<VersionList> ListVersionsAsync(string name, CancellationToken cancellationToken = default) =>
        SendAsync<VersionList>(HttpMethod.Get, $"api/v1/models/{Escape(name)}/versions", null, cancellationToken);

    /// <summary>One version.</summary>
    public Task<VersionInfo> GetVersionAsync(string name, int version, CancellationToken cancellationToken = default) =>
        SendAsync<VersionInfo>(HttpMethod.Get, $"api/v1/models/{Escape(name)}/versions/{version}", null, cancellationToken);

    /// <summary>Deletes a version; <paramref name="force"/> also when it has aliases or is in use.</summary>
    public Task DeleteVersionAsync(string name, int version, bool force = false, CancellationToken cancellationToken = default) =>
        SendAsync(HttpMethod.Delete, $"api/v1/models/{Escape(name)}/versions/{version}" + Query(("force", force ? "true" : null)), null, cancellationToken);

    /// <summary>What a reference (<c>name</c>, <c>name:alias</c>, <c>name/versions/N</c>) resolves to.</summary>
    public Task<ResolvedReference> ResolveAsync(string reference, CancellationToken cancellationToken = default) =>
        SendAsync<ResolvedReference>(HttpMethod.Get, "api/v1/resolve" + Query(("ref", reference)), null, cancellationToken);

    /// <summary>
    /// Uploads <paramref name="content"/> as a new version in one request (streamed, never buffered), reporting the
    /// bytes sent to <paramref name="progress"/>.
    /// </summary>
    public async Task<VersionInfo> UploadVersionAsync(
        string name, Stream content, string fileName, UploadOptions? options = null, IProgress<long>? progress = null, CancellationToken cancellationToken = default)
    {
        options ??= new UploadOptions();
        var query = Query(
            ("version", options.Version?.ToString(CultureInfo.InvariantCulture)),
            ("derived_from", options.DerivedFrom),
            ("relation", options.Relation));
        using var body = new StreamContent(new ProgressStream(content, 0, progress), 1 << 20);
        body.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        if (content.CanSeek)
        {
            body.Headers.ContentLength = content.Length - content.Position;
        }

        body.Headers.Add("X-Maas-Filename", fileName);
        if (options.Metadata is { Count: > 0 } metadata)
        {
            body.Headers.Add("X-Maas-Metadata", JsonSerializer.Serialize(metadata, MaasJson.Options));
        }

        if (options.Sha256 is { } sha)
        {
            body.Headers.Add("X-Maas-Sha256", sha);
        }

        using var request = new HttpRequestMessage(HttpMethod.Post, $"api/v1/models/{Escape(name)}/versions{query}") { Content = body };
        using var response = await SendRawAsync(request, cancellationToken);
        return await ReadAsync<VersionInfo>(response, cancellationToken);
    }

    /// <summary>Uploads a file as a new version in one request.</summary>
    public async Task<VersionInfo> UploadVersionAsync(
        string name, string path, UploadOptions? options = null, IProgress<long>? progress = null, CancellationToken cancellationToken = default)
    {
        await using var file = File.OpenRead(path);
        return await UploadVersionAsync(name, file, Path.GetFileName(path), options, progress, cancellationToken);
    }

    /// <summary>Starts a resumable upload session for one file.</summary>
    public Task<UploadSession> CreateUploadAsync(string name, string fileName, long? size = null, string? sha256 = null, CancellationToken cancellationToken = default) =>
        SendAsync<UploadSession>(HttpMethod.Post, $"api/v1/models/{Escape(name)}/uploads", new { filename = fileName, size, sha256 }, cancellationToken);

    /// <summary>A resumable upload session with its current offset.</summary>
    public Task<UploadSession> GetUploadAsync(string id, CancellationToken cancellationToken = default) =>
        SendAsync<UploadSession>(HttpMethod.Get, $"api/v1/uploads/{Escape(id)}", null, cancellationToken);

    /// <summary>Abandons a resumable upload session.</summary>
    public Task DeleteUploadAsync(string id, CancellationToken cancellationToken = default) =>
        SendAsync(HttpMethod.Delete, $"api/v1/uploads/{Escape(id)}", null, cancellationToken);

    /// <summary>Sends one chunk at <paramref name="offset"/>; returns the session's new offset.</summary>
    public Task<long> UploadChunkAsync(string id, long offset, ReadOnlyMemory<byte> chunk, CancellationToken cancellationToken = default) =>
        PatchChunkAsync($"api/v1/uploads/{Escape(id)}", offset, chunk, cancellationToken);

    /// <summary>Completes a resumable upload session into a version.</summary>
    public Task<VersionInfo> CompleteUploadAsync(string id, UploadOptions? options = null, IReadOnlyList<string>? files = null, CancellationToken cancellationToken = default)
    {
        options ??= new UploadOptions();
        return SendAsync<VersionInfo>(
            HttpMethod.Post,
            $"api/v1/uploads/{Escape(id)}/complete",
            new { version = options.Version, metadata = options.Metadata, derived_from = options.DerivedFrom, relation = options.Relation, files },
            cancellationToken);
    }

    /// <summary>
    /// Uploads a file in chunks through a resumable session: a broken connection is retried from the offset the
    /// server holds, and an interrupted upload goes on later with <see cref="ResumableUploadOptions.SessionId"/>.
    /// </summary>
    public async Task<VersionInfo> UploadVersionResumableAsync(
        string name, string path, UploadOptions? options = null, ResumableUploadOptions? resumable = null, IProgress<long>? progress = null,
        CancellationToken cancellationToken = default)
    {
        resumable ??= new ResumableUploadOptions();
        CheckChunkSize(resumable);
        await using var file = File.OpenRead(path);
        var session = resumable.SessionId is { } existing
            ? await GetUploadAsync(existing, cancellationToken)
            : await CreateUploadAsync(name, Path.GetFileName(path), file.Length, options?.Sha256, cancellationToken);
        resumable.SessionStarted?.Invoke(session);
        await SendFileInChunksAsync(
            file,
            session.Offset,
            resumable,
            (offset, chunk) => UploadChunkAsync(session.Id, offset, chunk, cancellationToken),
            async () => (await GetUploadAsync(session.Id, cancellationToken)).Offset,
            progress,
            cancellationToken);
        return await CompleteUploadAsync(session.Id, options, null, cancellationToken);
    }

    /// <summary>Starts an import from a URL; the download runs on the server as a job.</summary>
    public Task<JobInfo> ImportVersionAsync(string name, ImportRequest request, CancellationToken cancellationToken = default) =>
        SendAsync<JobInfo>(HttpMethod.Post, $"api/v1/models/{Escape(name)}/versions:import", request, cancellationToken);

    /// <summary>
    /// Downloads a version's files into <paramref name="folder"/> (the model file and any external-data files under
    /// their paths in the version); <paramref name="progress"/> gets the bytes written over all files. Returns the paths.
    /// </summary>
    public async Task<IReadOnlyList<string>> DownloadVersionAsync(
        string name, int version, string folder, IProgress<long>? progress = null, CancellationToken cancellationToken = default)
    {
        var info = await GetVersionAsync(name, version, cancellationToken);
        var files = info.Files is { Count: > 0 } listed ? listed : [new ArtifactFileInfo(info.FileName ?? "model", info.Sha256 ?? "", info.SizeBytes)];
        var written = new List<string>();
        long done = 0;
        foreach (var file in files)
        {
            var target = Path.GetFullPath(Path.Combine(folder, file.Path));
            if (!target.StartsWith(Path.GetFullPath(folder), StringComparison.Ordinal))
            {
                throw new MaasApiException(HttpStatusCode.OK, "invalid_response", $"the server named a file outside the folder: {file.Path}");
            }

            var route = file.Path == info.FileName
                ? $"api/v1/models/{Escape(name)}/versions/{version}/artifact"
                : $"api/v1/models/{Escape(name)}/versions/{version}/artifact" + Query(("file", file.Path));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            using var request = new HttpRequestMessage(HttpMethod.Get, route);
            using var response = await SendRawAsync(request, cancellationToken);
            await using var source = await response.Content.ReadAsStreamAsync(cancellationToken);
            var partial = target + ".part";
            await using (var destination = File.Create(partial))
            {
                var buffer = new byte[1 << 20];
                int read;
                while ((read = await source.ReadAsync(buffer, cancellationToken)) > 0)
                {
                    await destination.WriteAsync(buffer.AsMemory(0, read), cancellationToken);
                    done += read;
                    progress?.Report(done);
                }
            }

            File.Move(partial, target, overwrite: true);
            written.Add(target);
        }

        return written;
    }

    /// <summary>The aliases of a model.</summary>
    public Task<AliasList> ListAliasesAsync(string name, CancellationToken cancellationToken = default) =>
        SendAsync<AliasList>(HttpMethod.Get, $"api/v1/models/{Escape(name)}/aliases", null, cancellationToken);

    /// <summary>Points an alias at a version (creates or moves it); <paramref name="expectedVersion"/> makes the move conditional.</summary>
    public Task<AliasInfo> SetAliasAsync(string name, string alias, int version, int? expectedVersion = null, CancellationToken cancellationToken = default) =>
        SendAsync<AliasInfo>(HttpMethod.Put, $"api/v1/models/{Escape(name)}/aliases/{Escape(alias)}", new { version, expected_version = expectedVersion }, cancellationToken);

    /// <summary>Removes an alias.</summary>
    public Task DeleteAliasAsync(string name, string alias, CancellationToken cancellationToken = default) =>
        SendAsync(HttpMethod.Delete, $"api/v1/models/{Escape(name)}/aliases/{Escape(alias)}", null, cancellationToken);
}
