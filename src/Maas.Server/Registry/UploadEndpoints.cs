using System.Globalization;
using Maas.Core.Registry;
using Maas.Server.Auth;
using Maas.Server.Errors;
using Microsoft.Extensions.Options;
using Microsoft.Net.Http.Headers;

namespace Maas.Server.Registry;

/// <summary>
/// Resumable uploads, tus-like: create a session, send chunks at offsets (PATCH with Upload-Offset, or PUT with
/// Content-Range), ask for the offset after a broken connection (HEAD), then complete it into a version.
/// A session belongs to the key that opened it: to any other key (an admin's aside) it does not exist.
/// </summary>
internal static class UploadEndpoints
{
    /// <summary>tus's header for the offset of a chunk and of the session.</summary>
    public const string OffsetHeader = "Upload-Offset";

    /// <summary>tus's header for the announced total size.</summary>
    public const string LengthHeader = "Upload-Length";

    public static void Map(RouteGroupBuilder api)
    {
        api.MapPost("/models/{name}/uploads", CreateAsync);
        api.MapGet("/uploads/{id}", GetAsync);
        api.MapMethods("/uploads/{id}", ["HEAD"], HeadAsync);
        api.MapMethods("/uploads/{id}", ["PATCH"], PatchAsync);
        api.MapPut("/uploads/{id}", PutAsync);
        api.MapPost("/uploads/{id}/complete", CompleteAsync);
        api.MapDelete("/uploads/{id}", CancelAsync);
    }

    private static async Task<IResult> CreateAsync(string name, HttpContext context, ModelUploads uploads)
    {
        var body = await ApiRequests.ReadJsonAsync<CreateUploadRequest>(context.Request, context.RequestAborted);
        if (string.IsNullOrEmpty(body.Filename))
        {
            throw new ApiException(StatusCodes.Status400BadRequest, "missing_filename", "filename is required");
        }

        var session = await uploads.CreateAsync(name, body.Filename, body.Size, body.Sha256, ApiRequests.Caller(context), context.RequestAborted);
        SetOffsetHeaders(context, session);
        var response = UploadResponse.From(session, context.CallerTenant());
        return ModelEndpoints.CreatedAt.Json(response.Url, response);
    }

    private static async Task<IResult> GetAsync(string id, HttpContext context, ModelUploads uploads)
    {
        var session = await OwnSessionAsync(id, context, uploads);
        SetOffsetHeaders(context, session);
        return Results.Json(UploadResponse.From(session, context.CallerTenant()), RegistryJson.Options);
    }

    private static async Task<IResult> HeadAsync(string id, HttpContext context, ModelUploads uploads)
    {
        var session = await OwnSessionAsync(id, context, uploads);
        SetOffsetHeaders(context, session);
        return Results.Ok();
    }

    private static async Task<IResult> PatchAsync(string id, HttpContext context, ModelUploads uploads, IOptions<RegistryOptions> options)
    {
        var session = await AppendAsync(id, PatchOffset(context.Request), context, uploads, options.Value);
        SetOffsetHeaders(context, session);
        return Results.NoContent();
    }

    private static async Task<IResult> PutAsync(string id, HttpContext context, ModelUploads uploads, IOptions<RegistryOptions> options)
    {
        var session = await AppendAsync(id, PutOffset(context.Request), context, uploads, options.Value);
        SetOffsetHeaders(context, session);
        return Results.Json(UploadResponse.From(session, context.CallerTenant()), RegistryJson.Options);
    }

    /// <summary>The offset a PATCH chunk starts at: its <see cref="OffsetHeader"/> header (400 missing_offset without one, invalid_offset when it is not a number of 0 or
    /// more).</summary>
    public static long PatchOffset(HttpRequest request)
    {
        var header = request.Headers[OffsetHeader].ToString();
        if (header.Length == 0)
        {
            throw new ApiException(StatusCodes.Status400BadRequest, "missing_offset", $"a chunk needs the {OffsetHeader} header with the offset it starts at");
        }

        return long.TryParse(header, NumberStyles.None, CultureInfo.InvariantCulture, out var offset)
            ? offset
            : throw new ApiException(StatusCodes.Status400BadRequest, "invalid_offset",
                $"the {OffsetHeader} header '{RegistryNames.Shorten(header)}' is not a valid offset: it must be the byte the chunk starts at (0 or more)");
    }

    /// <summary>The offset a PUT chunk starts at: its Content-Range (checked against the body's length) or ?offset=N.</summary>
    public static long PutOffset(HttpRequest request)
    {
        if (request.Headers.ContentRange.ToString() is { Length: > 0 } range)
        {
            if (!ContentRangeHeaderValue.TryParse(range, out var parsed) || parsed.From is not { } from || parsed.To is not { } to)
            {
                throw new ApiException(StatusCodes.Status400BadRequest, "invalid_range",
                    $"Content-Range '{RegistryNames.Shorten(range)}' must be 'bytes first-last/total' or 'bytes first-last/*'");
            }

            if (request.ContentLength is { } length && length != to - from + 1)
            {
                throw new ApiException(StatusCodes.Status400BadRequest, "invalid_range", $"Content-Range covers {to - from + 1} bytes but the body has {length}");
            }

            return from;
        }

        // A 64-bit offset, as Content-Range's: resumable uploads are for big files (this was an int, so every chunk past
        // 2 GiB sent with ?offset= was refused as out of range).
        var query = request.Query["offset"].ToString();
        if (query.Length == 0)
        {
            throw new ApiException(StatusCodes.Status400BadRequest, "missing_offset", "a chunk needs Content-Range (bytes first-last/total) or ?offset=N");
        }

        return long.TryParse(query, NumberStyles.None, CultureInfo.InvariantCulture, out var offset)
            ? offset
            : throw new ApiException(StatusCodes.Status400BadRequest, "invalid_offset",
                $"offset '{RegistryNames.Shorten(query)}' is not a valid offset: it must be the byte the chunk starts at (0 or more)");
    }

    private static async Task<UploadSession> AppendAsync(string id, long offset, HttpContext context, ModelUploads uploads, RegistryOptions options)
    {
        await OwnSessionAsync(id, context, uploads);
        ApiRequests.AllowLargeBody(context);
        ApiRequests.CheckDeclaredLength(context.Request, options.MaxUploadBytes);
        return await uploads.AppendAsync(id, offset, context.Request.Body, context.RequestAborted);
    }

    private static async Task<IResult> CompleteAsync(string id, HttpContext context, IModelRegistry registry, ModelUploads uploads)
    {
        var body = context.Request.ContentLength is 0 || (context.Request.ContentLength is null && context.Request.ContentType is null)
            ? new CompleteUploadRequest(null, null, null, null, null)
            : await ApiRequests.ReadJsonAsync<CompleteUploadRequest>(context.Request, context.RequestAborted);
        for (var i = 0; i < body.Files?.Length; i++)
        {
            // JSON null in the list would be looked up as upload '' and answered 404: the list itself is wrong.
            if (string.IsNullOrEmpty(body.Files[i]))
            {
                throw new ApiException(StatusCodes.Status400BadRequest, "invalid_upload",
                    $"files[{i}] is {(body.Files[i] is null ? "null" : "empty")}; files lists the ids of other uploads (strings)");
            }
        }

        foreach (var sessionId in (body.Files ?? []).Prepend(id))
        {
            await OwnSessionAsync(sessionId, context, uploads);
        }

        var options = await VersionEndpoints.OptionsAsync(registry, context, body.Version, body.Metadata, body.DerivedFrom, body.Relation, context.RequestAborted);
        var version = await uploads.CompleteAsync(id, body.Files ?? [], options, context.RequestAborted);
        var response = await VersionEndpoints.WrittenResponseAsync(context, registry, version);
        return ModelEndpoints.CreatedAt.Json(response.Url, response);
    }

    private static async Task<IResult> CancelAsync(string id, HttpContext context, ModelUploads uploads)
    {
        await OwnSessionAsync(id, context, uploads);
        await uploads.CancelAsync(id, context.RequestAborted);
        return Results.NoContent();
    }

    // The session if the caller opened it (or is an admin) and may still change its model; else "not found",
    // worded exactly as for a session that does not exist.
    private static async Task<UploadSession> OwnSessionAsync(string id, HttpContext context, ModelUploads uploads)
    {
        var session = await uploads.GetAsync(id, context.RequestAborted);
        if (context.GetCaller() is { IsAdmin: false } caller
            && (!string.Equals(session.CreatedBy, caller.Actor, StringComparison.Ordinal)
                || (await context.CheckModelKeyAccessAsync(session.Model, write: true, context.RequestAborted)).Result != ModelAccessResult.Allowed))
        {
            throw RegistryException.NotFound("upload_not_found", $"upload '{id}' does not exist or has expired");
        }

        return session;
    }

    private static void SetOffsetHeaders(HttpContext context, UploadSession session) => SetOffsetHeaders(context, session.Offset, session.TotalBytes);

    /// <summary>Tells the caller where the next chunk starts (and the announced total), never cached.</summary>
    public static void SetOffsetHeaders(HttpContext context, long offset, long? totalBytes)
    {
        var headers = context.Response.Headers;
        headers[OffsetHeader] = offset.ToString(CultureInfo.InvariantCulture);
        if (totalBytes is { } total)
        {
            headers[LengthHeader] = total.ToString(CultureInfo.InvariantCulture);
        }

        headers.CacheControl = "no-store";
    }
}
