using System.Security.Cryptography;
using Maas.Core.FineTuning;
using Maas.Core.Registry;
using Maas.Core.Tenancy;
using Maas.Server.Auth;
using Maas.Server.Hosting;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Options;

namespace Maas.Server.FineTuning;

/// <summary>OpenAI's files API for fine-tuning data: upload (JSON Lines checked line by line), list, show, download, delete.</summary>
internal static class FilesEndpoints
{
    public const string FineTunePurpose = "fine-tune";

    public static void Map(RouteGroupBuilder v1)
    {
        v1.MapPost("/files", UploadAsync).RequireScope(MaasScopes.TrainingWrite);
        v1.MapGet("/files", ListAsync).RequireScope(MaasScopes.TrainingRead);
        v1.MapGet("/files/{id}", GetAsync).RequireScope(MaasScopes.TrainingRead);
        v1.MapGet("/files/{id}/content", ContentAsync).RequireScope(MaasScopes.TrainingRead);
        v1.MapDelete("/files/{id}", DeleteAsync).RequireScope(MaasScopes.TrainingWrite);
    }

    /// <summary>OpenAI's file object.</summary>
    public static object View(FineTuningFile f) => new
    {
        id = f.Id,
        @object = "file",
        bytes = f.Bytes,
        created_at = f.CreatedAt.ToUnixTimeSeconds(),
        filename = f.Filename,
        purpose = f.Purpose,
        status = "processed",
        status_details = (string?)null,
    };

    /// <summary>The file if the caller's tenant owns it (admins see all); otherwise the same 404 as a missing one.</summary>
    public static async Task<FineTuningFile> VisibleAsync(string id, HttpContext context, IFineTuningFileStore files, string param = "file_id")
    {
        var file = await files.GetAsync(id, context.RequestAborted);
        if (file is null || (context.GetCaller() is { IsAdmin: false } caller && caller.Tenant != file.Tenant))
        {
            throw OpenAiApiError.NotFound($"No such File object: {RegistryNames.Shorten(id)}", param, "file_not_found");
        }

        return file;
    }

    private static async Task<IResult> UploadAsync(HttpContext context, IFineTuningFileStore files, IArtifactStore artifacts, ModelRegistry registry,
        IOptions<FineTuningOptions> options, IOptions<MaasOptions> maas, TimeProvider time)
    {
        var o = options.Value;
        var bodyLimit = CheckDeclaredUpload(context.Request, o);

        // Files count against the tenant's storage quota with its models and datasets (the one check, the one sum):
        // a tenant already at it is refused before its body is read, a file bigger than what is left once it is in.
        // The file's bytes are reserved from then until it is stored (or refused), so files uploaded at once cannot
        // together pass the quota.
        var tenant = context.CallerTenant();
        await using var reservation = await registry.ReserveStorageAsync(tenant, o.MaxFileBytes, 0, context.RequestAborted);
        var (room, overLimit) = (reservation.Limit, reservation.OverLimit);

        var form = await ReadFormAsync(context, o, bodyLimit);
        var (purpose, upload) = CheckForm(form, o);
        if (overLimit is not null && upload.Length > room)
        {
            throw overLimit();
        }

        await reservation.EnsureAsync(upload.Length, context.RequestAborted, exact: true);

        var filename = Path.GetFileName(upload.FileName);
        if (string.IsNullOrWhiteSpace(filename) || filename.Length > 256)
        {
            throw OpenAiApiError.Invalid("the file needs a name of 1 to 256 characters", "file", "invalid_filename");
        }

        var content = new byte[upload.Length];
        await using (var stream = upload.OpenReadStream())
        {
            await stream.ReadExactlyAsync(content, context.RequestAborted);
        }

        int examples;
        try
        {
            examples = ChatFile.Parse(content, o.MaxExamples).Count;
        }
        catch (ChatFileException e)
        {
            throw OpenAiApiError.Invalid($"the file is not valid chat fine-tuning data: {e.Message}", "file", "invalid_file_format");
        }

        var sha = await StoreAsync(content, artifacts, maas.Value.DataDir, context.RequestAborted);
        var file = new FineTuningFile
        {
            Id = "file-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(12)),
            Tenant = tenant,
            Filename = filename,
            Purpose = purpose,
            Bytes = content.Length,
            Sha256 = sha,
            Examples = examples,
            CreatedBy = Registry.ApiRequests.Caller(context),
            CreatedAt = time.GetUtcNow(),
        };
        await files.AddAsync(file, CancellationToken.None, reservation.HeldId);
        return Results.Json(View(file));
    }

    // What the request says before its body is read: multipart, and no longer than a file and a few small fields.
    // Returns the body's limit.
    private static long CheckDeclaredUpload(HttpRequest request, FineTuningOptions o)
    {
        if (!request.HasFormContentType || request.ContentType?.Contains("multipart/form-data", StringComparison.OrdinalIgnoreCase) != true)
        {
            throw OpenAiApiError.Invalid("upload the file as multipart/form-data with the fields 'file' and 'purpose'", null, "invalid_content_type");
        }

        var bodyLimit = o.MaxFileBytes + ((long)o.MaxMultipartFields * (o.MaxMultipartFieldBytes + 1024));
        if (request.ContentLength > bodyLimit)
        {
            throw new OpenAiApiError(StatusCodes.Status413PayloadTooLarge,
                $"the upload is {request.ContentLength} bytes; files may have at most {o.MaxFileBytes} bytes (Maas:FineTuning:MaxFileBytes)", "file", "file_too_large");
        }

        return bodyLimit;
    }

    // The multipart body under the fine-tuning limits; a body over them is OpenAI's 400 or 413, never a 500.
    private static async Task<IFormCollection> ReadFormAsync(HttpContext context, FineTuningOptions o, long bodyLimit)
    {
        var request = context.Request;
        if (context.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } size)
        {
            size.MaxRequestBodySize = bodyLimit;
        }

        try
        {
            context.Features.Set<IFormFeature>(new FormFeature(request, new FormOptions
            {
                ValueCountLimit = o.MaxMultipartFields,
                ValueLengthLimit = o.MaxMultipartFieldBytes,
                MultipartBodyLengthLimit = o.MaxFileBytes,
                MultipartHeadersCountLimit = 16,
                MultipartHeadersLengthLimit = 16 * 1024,
            }));
            return await request.ReadFormAsync(context.RequestAborted);
        }
        catch (Exception e) when (e is InvalidDataException or BadHttpRequestException or IOException && !context.RequestAborted.IsCancellationRequested)
        {
            throw new OpenAiApiError(
                e.Message.Contains("body length limit", StringComparison.OrdinalIgnoreCase) ? StatusCodes.Status413PayloadTooLarge : StatusCodes.Status400BadRequest,
                $"the multipart body was refused: {e.Message} (limits: {o.MaxMultipartFields} fields of at most {o.MaxMultipartFieldBytes} bytes, files of at most " +
                $"{o.MaxFileBytes} bytes)",
                null,
                "invalid_multipart");
        }
    }

    // The form's parts: the fine-tune purpose and exactly one file, within the size limit.
    private static (string Purpose, IFormFile Upload) CheckForm(IFormCollection form, FineTuningOptions o)
    {
        if (form.Count + form.Files.Count > o.MaxMultipartFields)
        {
            throw OpenAiApiError.Invalid($"the upload has {form.Count + form.Files.Count} parts; at most {o.MaxMultipartFields} (Maas:FineTuning:MaxMultipartFields)", null,
                "invalid_multipart");
        }

        var purpose = form["purpose"].ToString();
        if (purpose != FineTunePurpose)
        {
            throw OpenAiApiError.Invalid($"purpose must be '{FineTunePurpose}', not '{RegistryNames.Shorten(purpose)}': this server keeps files for fine-tuning only", "purpose",
                "invalid_purpose");
        }

        if (form.Files.Count != 1 || form.Files.GetFile("file") is not { } upload)
        {
            throw OpenAiApiError.Invalid("the upload needs exactly one file, in the field 'file'", "file", "missing_file");
        }

        if (upload.Length > o.MaxFileBytes)
        {
            throw new OpenAiApiError(StatusCodes.Status413PayloadTooLarge,
                $"the file is {upload.Length} bytes; files may have at most {o.MaxFileBytes} bytes (Maas:FineTuning:MaxFileBytes)", "file", "file_too_large");
        }

        return (purpose, upload);
    }

    // Content-addressed like datasets: the artifact key is the SHA-256 of the bytes, which this returns.
    private static async Task<string> StoreAsync(byte[] content, IArtifactStore artifacts, string dataDir, CancellationToken cancellationToken)
    {
        var sha = Convert.ToHexStringLower(SHA256.HashData(content));
        var staging = Path.Combine(dataDir, "tmp", "files");
        Directory.CreateDirectory(staging);
        var staged = Path.Combine(staging, Guid.NewGuid().ToString("n"));
        await File.WriteAllBytesAsync(staged, content, cancellationToken);
        try
        {
            await artifacts.CommitAsync(sha, staged, bundle: false, cancellationToken);
        }
        finally
        {
            File.Delete(staged);
        }

        return sha;
    }

    private static async Task<IResult> ListAsync(HttpContext context, IFineTuningFileStore files)
    {
        var limitText = context.Request.Query["limit"].ToString();
        var limit = 10_000;
        if (limitText.Length > 0 && (!int.TryParse(limitText, out limit) || limit is < 1 or > 10_000))
        {
            throw OpenAiApiError.Invalid($"limit must be between 1 and 10000, not '{RegistryNames.Shorten(limitText)}'", "limit", "invalid_limit");
        }

        var purpose = context.Request.Query["purpose"].ToString();
        var tenant = context.GetCaller() is { IsAdmin: false } caller ? caller.Tenant : null;
        var list = await files.ListAsync(tenant, purpose.Length > 0 ? purpose : null, limit + 1, context.RequestAborted);
        return Results.Json(new { @object = "list", data = list.Take(limit).Select(View).ToArray(), has_more = list.Count > limit });
    }

    private static async Task<IResult> GetAsync(string id, HttpContext context, IFineTuningFileStore files) =>
        Results.Json(View(await VisibleAsync(id, context, files)));

    private static async Task<IResult> ContentAsync(string id, HttpContext context, IFineTuningFileStore files, IArtifactStore artifacts)
    {
        var file = await VisibleAsync(id, context, files);
        var content = await artifacts.OpenAsync(file.Sha256, null, context.RequestAborted);
        return Results.Stream(content.Stream, "application/octet-stream", file.Filename);
    }

    private static async Task<IResult> DeleteAsync(string id, HttpContext context, IFineTuningFileStore files, IArtifactStore artifacts, IRegistryStore registry)
    {
        var file = await VisibleAsync(id, context, files);
        await files.DeleteAsync(file.Id, CancellationToken.None);

        // The bytes go too unless another file, a dataset or a model version has the same content.
        if (!await registry.IsArtifactReferencedAsync(file.Sha256, CancellationToken.None))
        {
            await artifacts.DeleteAsync(file.Sha256, CancellationToken.None);
        }

        return Results.Json(new { id = file.Id, @object = "file", deleted = true });
    }
}
