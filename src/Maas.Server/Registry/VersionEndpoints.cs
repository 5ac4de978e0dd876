using System.Text.Json;
using Maas.Core.Registry;
using Maas.Core.Registry.Import;
using Maas.Server.Auth;
using Maas.Server.Errors;
using Maas.Server.Hosting;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.Options;
using Microsoft.Net.Http.Headers;

namespace Maas.Server.Registry;

/// <summary>Versions: upload (raw body or multipart), import from a URL, list, show, download, delete.</summary>
internal static class VersionEndpoints
{
    /// <summary>The header that names the uploaded file of a raw-body upload.</summary>
    public const string FileNameHeader = "X-Maas-Filename";

    /// <summary>The header with the SHA-256 the uploader expects (optional).</summary>
    public const string Sha256Header = "X-Maas-Sha256";

    /// <summary>The header with the version's metadata as a JSON object of strings (optional).</summary>
    public const string MetadataHeader = "X-Maas-Metadata";


    public static void Map(RouteGroupBuilder api)
    {
        api.MapPost("/models/{name}/versions", UploadAsync);
        api.MapPost("/models/{name}/versions:import", ImportAsync);
        api.MapGet("/models/{name}/versions", ListAsync);
        api.MapGet("/models/{name}/versions/{version}", GetAsync);
        api.MapDelete("/models/{name}/versions/{version}", DeleteAsync);
        api.MapMethods("/models/{name}/versions/{version}/artifact", ["GET", "HEAD"], (string name, string version, HttpContext context, IModelRegistry registry) =>
            DownloadAsync(name, version, context.Request.Query["file"].ToString() is { Length: > 0 } f ? f : null, context, registry));
        api.MapMethods("/models/{name}/versions/{version}/artifact/{**file}", ["GET", "HEAD"],
            (string name, string version, string file, HttpContext context, IModelRegistry registry) =>
            DownloadAsync(name, version, file, context, registry));
    }

    /// <summary>
    /// Builds a version's options from what the caller sent, resolving derived_from to a concrete version. The
    /// lineage is checked like a request for that model: one the caller may not see is answered as missing; metadata
    /// under the server's reserved <c>maas.</c> prefix is refused (400 reserved_metadata).
    /// </summary>
    public static async Task<NewVersionOptions> OptionsAsync(
        IModelRegistry registry,
        HttpContext context,
        int? version,
        IReadOnlyDictionary<string, string>? metadata,
        string? derivedFrom,
        string? relation,
        CancellationToken cancellationToken)
    {
        CheckMetadataText(metadata);
        if (ReservedMetadata.FirstReserved(metadata) is { } reserved)
        {
            // The server reads these keys as facts about a version (a retried job adopts the version whose maas.job
            // names it): a client that could write them could make the server trust what it never did.
            throw new ApiException(
                StatusCodes.Status400BadRequest,
                "reserved_metadata",
                $"metadata key '{RegistryNames.Shorten(reserved)}' is reserved: {ReservedMetadata.Rule}",
                new Dictionary<string, object?> { ["key"] = RegistryNames.Shorten(reserved) });
        }

        var caller = ApiRequests.Caller(context);
        Lineage? lineage = null;
        if (!string.IsNullOrEmpty(derivedFrom))
        {
            if (!ModelReference.TryParse(derivedFrom, out var reference))
            {
                throw new ApiException(StatusCodes.Status400BadRequest, "invalid_lineage",
                    $"derived_from '{RegistryNames.Shorten(derivedFrom)}' is not 'model', 'model:alias' or 'model/versions/N'");
            }

            try
            {
                // Resolved like a request for that model: a short name is the caller's own, a hidden one does not exist.
                var access = await context.CheckModelAccessAsync(derivedFrom, write: false, cancellationToken);
                if (access.Result == ModelAccessResult.Hidden)
                {
                    throw RegistryException.ModelNotFound(reference.Model);
                }

                var resolved = await registry.ResolveAsync(ModelReference.Parse(access.Reference), cancellationToken);
                lineage = new Lineage(resolved.Model.Key, resolved.Version.Version, string.IsNullOrEmpty(relation) ? "derived_from" : relation);
            }
            catch (RegistryException e) when (e.Kind == RegistryErrorKind.NotFound)
            {
                throw new ApiException(StatusCodes.Status400BadRequest, "lineage_not_found", $"derived_from '{derivedFrom}' names no ready version: {e.Message}");
            }
        }
        else if (!string.IsNullOrEmpty(relation))
        {
            throw new ApiException(StatusCodes.Status400BadRequest, "invalid_lineage", "relation needs derived_from");
        }

        return new NewVersionOptions
        {
            Version = version,
            Metadata = metadata ?? new Dictionary<string, string>(),
            DerivedFrom = lineage,
            CreatedBy = caller,
        };
    }

    /// <summary>
    /// A version of a model served with <paramref name="config"/> as this caller may see it: lineage naming a model
    /// hidden from the caller is left out.
    /// </summary>
    public static async Task<VersionResponse> ResponseAsync(HttpContext context, ModelVersion version, ServingConfig config)
    {
        var response = VersionResponse.From(version, config, context.CallerTenant());
        return version.DerivedFrom is { } lineage
            && (await context.CheckModelKeyAccessAsync(lineage.Model, write: false, context.RequestAborted)).Result == ModelAccessResult.Hidden
            ? response with { DerivedFrom = null }
            : response;
    }

    /// <summary>The view of a version just written (uploaded, imported or changed), with its model's serving configuration.</summary>
    public static async Task<VersionResponse> WrittenResponseAsync(HttpContext context, IModelRegistry registry, ModelVersion version)
    {
        var model = await registry.GetModelAsync(version.Model, context.RequestAborted);
        return VersionResponse.From(version, model.ServingConfig, context.CallerTenant());
    }

    /// <summary>
    /// Refuses, from its name alone and so before a byte of the body is read, a raw body (the whole version, so its
    /// model file) named like no model: 400 unsupported_format naming the accepted formats. Multipart parts and
    /// resumable sessions may be an ONNX model's external data under any name; their content is checked after.
    /// </summary>
    internal static void RequireModelExtension(string fileName)
    {
        var extension = Path.GetExtension(fileName);
        if (!extension.Equals(".onnx", StringComparison.OrdinalIgnoreCase) && !extension.Equals(".gguf", StringComparison.OrdinalIgnoreCase))
        {
            throw new ApiException(
                StatusCodes.Status400BadRequest,
                "unsupported_format",
                $"'{RegistryNames.Shorten(fileName)}' is not named like a model file: upload an ONNX model (.onnx) or a GGUF file (.gguf); an ONNX model's external data goes " +
                $"beside it in a multipart upload");
        }
    }

    private static async Task<IResult> UploadAsync(string name, HttpContext context, IModelRegistry registry, IOptions<RegistryOptions> options,
        IOptions<MultipartLimits> multipart)
    {
        var request = context.Request;
        var cancellationToken = context.RequestAborted;
        ApiRequests.AllowLargeBody(context);
        var limit = options.Value.MaxUploadBytes;
        ApiRequests.CheckDeclaredLength(request, limit);
        var mediaType = request.ContentType is { } contentType && MediaTypeHeaderValue.TryParse(contentType, out var parsed) ? parsed : null;
        if (request.ContentType is not null && mediaType is null)
        {
            throw new ApiException(StatusCodes.Status400BadRequest, "bad_request", $"Content-Type '{request.ContentType}' cannot be parsed");
        }

        if (mediaType?.MediaType.Equals("multipart/form-data", StringComparison.OrdinalIgnoreCase) == true)
        {
            return await UploadMultipartAsync(name, context, mediaType, registry, multipart.Value);
        }

        if (mediaType is not null && !mediaType.MediaType.Equals("application/octet-stream", StringComparison.OrdinalIgnoreCase))
        {
            throw new ApiException(
                StatusCodes.Status415UnsupportedMediaType,
                "unsupported_media_type",
                $"send the artifact as application/octet-stream (with {FileNameHeader}) or multipart/form-data, not '{mediaType.MediaType}'");
        }

        var fileName = request.Headers[FileNameHeader].ToString();
        if (fileName.Length == 0)
        {
            throw new ApiException(StatusCodes.Status400BadRequest, "missing_filename", $"name the file in the {FileNameHeader} header (e.g. model.gguf)");
        }

        RegistryNames.ValidateFilePath(fileName);
        RequireModelExtension(fileName);
        var expected = ModelRegistry.NormalizeSha256(request.Headers[Sha256Header].ToString() is { Length: > 0 } sha ? sha : null);
        var versionOptions = await OptionsAsync(
            registry,
            context,
            ApiRequests.OptionalInt(request.Query["version"], "version"),
            ParseMetadata(request.Headers[MetadataHeader].ToString(), MetadataHeader),
            request.Query["derived_from"],
            request.Query["relation"],
            cancellationToken);

        await using var draft = await registry.BeginVersionAsync(name, versionOptions, cancellationToken);
        if (request.ContentLength is { } declared)
        {
            // The declared size counts against the tenant's storage quota before the first byte is read.
            await draft.DeclareAsync(declared, cancellationToken);
        }

        var file = await draft.AddFileAsync(fileName, request.Body, null, cancellationToken);
        if (expected is not null && expected != file.Sha256)
        {
            throw ModelRegistry.ChecksumMismatch(fileName, expected, file.Sha256);
        }

        var version = await registry.CommitVersionAsync(draft, cancellationToken);
        var response = await WrittenResponseAsync(context, registry, version);
        return ModelEndpoints.CreatedAt.Json(response.Url, response);
    }

    private static readonly string[] FormFields = ["version", "metadata", "derived_from", "relation", "sha256"];

    // Streams each file part straight into the draft: nothing is buffered, whatever the size. Form fields that
    // choose the version number must come before the first file; metadata and lineage may come anywhere.
    private static async Task<IResult> UploadMultipartAsync(string name, HttpContext context, MediaTypeHeaderValue mediaType, IModelRegistry registry, MultipartLimits limits)
    {
        var cancellationToken = context.RequestAborted;
        var boundary = HeaderUtilities.RemoveQuotes(mediaType.Boundary).Value;
        if (string.IsNullOrEmpty(boundary))
        {
            throw new ApiException(StatusCodes.Status400BadRequest, "bad_request", "the multipart Content-Type has no boundary");
        }

        var query = context.Request.Query;
        var fields = new Dictionary<string, string>(StringComparer.Ordinal);
        var reader = new MultipartReader(boundary, context.Request.Body) { HeadersLengthLimit = limits.MaxPartHeaderBytes };
        var budget = new MultipartBudget(limits);
        VersionDraft? draft = null;
        try
        {
            while (await reader.ReadNextSectionAsync(cancellationToken) is { } section)
            {
                budget.CountPart();
                if (!ContentDispositionHeaderValue.TryParse(section.ContentDisposition, out var disposition) || !disposition.IsFormDisposition() &&
                    !disposition.IsFileDisposition())
                {
                    throw new ApiException(StatusCodes.Status400BadRequest, "bad_request", "every multipart part needs Content-Disposition: form-data");
                }

                if (disposition.IsFileDisposition())
                {
                    var fileName = HeaderUtilities.RemoveQuotes(disposition.FileNameStar.HasValue ? disposition.FileNameStar : disposition.FileName).Value ?? "";
                    RegistryNames.ValidateFilePath(fileName);
                    draft ??= await registry.BeginVersionAsync(
                        name,
                        await OptionsAsync(registry, context, Field("version") is { } v ? ApiRequests.OptionalInt(v, "version") : null, null, null, null, cancellationToken),
                        cancellationToken);
                    await draft.AddFileAsync(fileName, section.Body, null, cancellationToken);
                    continue;
                }

                var field = HeaderUtilities.RemoveQuotes(disposition.Name).Value ?? "";
                if (field == "version" && draft is not null)
                {
                    throw new ApiException(StatusCodes.Status400BadRequest, "field_order", "the 'version' field must come before the file parts");
                }

                fields[field] = await budget.ReadFieldAsync(section.Body, field, cancellationToken);
            }

            // Checked after the parts (so the part and size limits answer first): a misspelt field would otherwise
            // lose its metadata or lineage without a word.
            if (fields.Keys.FirstOrDefault(f => !FormFields.Contains(f)) is { } unknown)
            {
                throw new ApiException(StatusCodes.Status400BadRequest, "bad_request",
                    $"unknown form field '{RegistryNames.Shorten(unknown)}'; the fields are {string.Join(", ", FormFields)}, and files");
            }

            if (draft is null)
            {
                throw new ApiException(StatusCodes.Status400BadRequest, "empty_upload", "the multipart body has no file part");
            }

            var final = await OptionsAsync(
                registry,
                context,
                draft.Options.Version,
                ParseMetadata(Field("metadata"), "metadata"),
                Field("derived_from"),
                Field("relation"),
                cancellationToken);
            draft.Options = final with { Version = draft.Options.Version };
            if (ModelRegistry.NormalizeSha256(Field("sha256")) is { } expected && draft.Files.Count > 0)
            {
                var primary = draft.Files.FirstOrDefault(
                    f => f.Path.EndsWith(".onnx", StringComparison.OrdinalIgnoreCase) || f.Path.EndsWith(".gguf", StringComparison.OrdinalIgnoreCase)) ?? draft.Files[0];
                if (expected != primary.Sha256)
                {
                    throw ModelRegistry.ChecksumMismatch(primary.Path, expected, primary.Sha256);
                }
            }

            var version = await registry.CommitVersionAsync(draft, cancellationToken);
            var response = await WrittenResponseAsync(context, registry, version);
            return ModelEndpoints.CreatedAt.Json(response.Url, response);
        }
        catch (InvalidDataException e)
        {
            throw new ApiException(StatusCodes.Status400BadRequest, "bad_request", $"the multipart body is malformed: {e.Message}");
        }
        catch (IOException e) when (!cancellationToken.IsCancellationRequested && e.Source == "Microsoft.AspNetCore.WebUtilities")
        {
            // The multipart reader's own "Unexpected end of Stream": the body ends before its closing boundary.
            throw new ApiException(StatusCodes.Status400BadRequest, "bad_request", $"the multipart body ends before its closing boundary '--{boundary}--'");
        }
        finally
        {
            if (draft is not null)
            {
                await draft.DisposeAsync();
            }
        }

        string? Field(string key) => fields.TryGetValue(key, out var value) ? value : query[key].ToString() is { Length: > 0 } q ? q : null;
    }

    // A caller's metadata is text people read (notes, sources): a null value (JSON null, which the parser lets into a
    // dictionary of strings) or a control character in a key or value is refused, naming the entry.
    private static void CheckMetadataText(IReadOnlyDictionary<string, string>? metadata)
    {
        foreach (var (key, value) in metadata ?? new Dictionary<string, string>())
        {
            if (RegistryNames.IndexOfControl(key) is var inKey and >= 0)
            {
                throw new ApiException(StatusCodes.Status400BadRequest, "invalid_metadata", RegistryNames.ControlMessage($"metadata key '{Printable(key)}'", key, inKey));
            }

            if ((string?)value is null)
            {
                throw new ApiException(StatusCodes.Status400BadRequest, "invalid_metadata", $"metadata '{Printable(key)}' is null; a value must be a string");
            }

            if (RegistryNames.IndexOfControl(value) is var inValue and >= 0)
            {
                throw new ApiException(StatusCodes.Status400BadRequest, "invalid_metadata", RegistryNames.ControlMessage($"metadata '{Printable(key)}'", value, inValue));
            }
        }
    }

    // A key as a message can show it: control characters written as \uXXXX.
    private static string Printable(string key) => string.Concat(RegistryNames.Shorten(key).Select(c => char.IsControl(c) ? $"\\u{(int)c:x4}" : c.ToString()));

    private static Dictionary<string, string>? ParseMetadata(string? json, string where)
    {
        if (string.IsNullOrWhiteSpace(json))
        {
            return null;
        }

        try
        {
            return JsonSerializer.Deserialize<Dictionary<string, string>>(json, RegistryJson.Options);
        }
        catch (JsonException)
        {
            throw new ApiException(StatusCodes.Status400BadRequest, "invalid_metadata",
                $"{where} must be a JSON object of string values, e.g. {{\"source\": \"training-run-42\"}}");
        }
    }

    private static async Task<IResult> ImportAsync(string name, HttpContext context, IModelRegistry registry, ModelImporter importer)
    {
        var body = await ApiRequests.ReadJsonAsync<ImportVersionRequest>(context.Request, context.RequestAborted);
        var options = await OptionsAsync(registry, context, body.Version, body.Metadata, body.DerivedFrom, body.Relation, context.RequestAborted);
        var job = await importer.StartAsync(name, new ImportRequest(body.Url ?? "", body.Sha256, body.Filename, options), context.RequestAborted);
        var response = JobResponse.From(job, context.CallerTenant());
        return ModelEndpoints.CreatedAt.Accepted(response.Url, response);
    }

    private static async Task<IResult> ListAsync(string name, HttpContext context, IModelRegistry registry)
    {
        var versions = await registry.ListVersionsAsync(name, context.RequestAborted);
        ServingConfig config = versions.Count == 0 ? new() : (await registry.GetModelAsync(versions[0].Model, context.RequestAborted)).ServingConfig;
        var responses = new List<VersionResponse>(versions.Count);
        foreach (var version in versions)
        {
            responses.Add(await ResponseAsync(context, version, config));
        }

        return Results.Json(new { model = ModelKeys.RelativeTo(name, context.CallerTenant()), versions = responses }, RegistryJson.Options);
    }

    private static async Task<IResult> GetAsync(string name, string version, HttpContext context, IModelRegistry registry)
    {
        var found = await registry.GetVersionAsync(name, ApiRequests.Version(version), context.RequestAborted);
        var model = await registry.GetModelAsync(found.Model, context.RequestAborted);
        return Results.Json(await ResponseAsync(context, found, model.ServingConfig), RegistryJson.Options);
    }

    private static async Task<IResult> DeleteAsync(string name, string version, HttpContext context, IModelRegistry registry)
    {
        await registry.DeleteVersionAsync(name, ApiRequests.Version(version), ApiRequests.Flag(context.Request.Query["force"], "force"), context.RequestAborted);
        return Results.NoContent();
    }

    private static async Task<IResult> DownloadAsync(string name, string version, string? file, HttpContext context, IModelRegistry registry)
    {
        var found = await registry.GetVersionAsync(name, ApiRequests.Version(version), context.RequestAborted);
        var content = await registry.OpenArtifactAsync(found, file, context.RequestAborted);
        var entry = found.Files.First(f => f.Path == (file ?? found.FileName));
        var headers = context.Response.Headers;
        headers[Sha256Header] = entry.Sha256;
        headers["Repr-Digest"] = $"sha-256=:{Convert.ToBase64String(Convert.FromHexString(entry.Sha256))}:";
        var tag = new EntityTagHeaderValue($"\"{entry.Sha256}\"");
        var downloadName = Path.GetFileName(entry.Path);
        if (content.LocalPath is { } path)
        {
            content.Dispose();
            return Results.File(path, "application/octet-stream", downloadName, entityTag: tag, enableRangeProcessing: true);
        }

        return Results.Stream(content.Stream, "application/octet-stream", downloadName, entityTag: tag);
    }
}
