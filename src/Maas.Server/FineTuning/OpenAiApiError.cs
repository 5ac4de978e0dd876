using Maas.Server.Errors;

namespace Maas.Server.FineTuning;

/// <summary>A caller's mistake on the files and fine-tuning routes, answered in OpenAI's error format.</summary>
internal sealed class OpenAiApiError(int status, string message, string? param, string code) : Exception(message)
{
    public int Status { get; } = status;

    public string? Param { get; } = param;

    public string Code { get; } = code;

    public static OpenAiApiError Invalid(string message, string? param, string code) => new(StatusCodes.Status400BadRequest, message, param, code);

    public static OpenAiApiError NotFound(string message, string? param, string code) => new(StatusCodes.Status404NotFound, message, param, code);

    /// <summary>
    /// The route filter: OpenAI's <c>{"error": {...}}</c> body for these errors, and for anything unexpected a 500
    /// without details (the error itself goes to <paramref name="logger"/>).
    /// </summary>
    public static async ValueTask<object?> FilterAsync(EndpointFilterInvocationContext invocation, EndpointFilterDelegate next, ILogger logger)
    {
        var context = invocation.HttpContext;
        try
        {
            return await next(invocation);
        }
        catch (OpenAiApiError e)
        {
            return Body(e.Status, "invalid_request_error", e.Message, e.Param, e.Code);
        }
        catch (ApiException e) when (e.Code == Jobs.JobSubmission.TooManyJobsCode)
        {
            // The tenant's job limit, as the training and optimisation routes refuse it (429 too_many_jobs with its
            // limit), in OpenAI's shape with the type of every 429 on /v1 that counts requests. A place frees when a job
            // ends or is cancelled: OpenAI's clients would send the job twice more within seconds for nothing.
            context.Response.Headers[Maas.Server.Auth.AuthErrors.ShouldRetryHeader] = "false";
            return Body(e.Status, OpenAi.OpenAiErrors.RequestsLimitType, e.Message, null, e.Code, e.Details);
        }
        catch (ApiException e)
        {
            // Shared helpers (JSON body reading, registry names) throw the API's own errors: same status, OpenAI's shape,
            // and the same extra fields (a limit, its value) beside OpenAI's four.
            return Body(e.Status, TypeOf(e.Status, e.Code), e.Message, null, e.Code, e.Details);
        }
        catch (Maas.Core.Registry.RegistryException e) when (e.Kind == Maas.Core.Registry.RegistryErrorKind.Invalid)
        {
            return Body(StatusCodes.Status400BadRequest, "invalid_request_error", e.Message, null, e.Code, e.Details);
        }
        catch (Maas.Core.Registry.RegistryException e) when (e.Kind == Maas.Core.Registry.RegistryErrorKind.InsufficientStorage)
        {
            // The tenant's storage quota is a quota like its token quotas: 429 insufficient_quota as on the rest of
            // /v1 (507 is not OpenAI's); the server's own disk below its floor is the server's trouble: 503.
            if (e.Code != "storage_quota_exceeded")
            {
                return Body(StatusCodes.Status503ServiceUnavailable, "server_error", e.Message, null, e.Code, e.Details);
            }

            // OpenAI's clients would send the refused file twice more: room is made by deleting, not by waiting.
            context.Response.Headers[Maas.Server.Auth.AuthErrors.ShouldRetryHeader] = "false";
            return Body(StatusCodes.Status429TooManyRequests, OpenAi.OpenAiErrors.QuotaType, e.Message, null, e.Code, e.Details);
        }
        catch (Exception e) when (e is not OperationCanceledException || !context.RequestAborted.IsCancellationRequested)
        {
            logger.LogError(e, "{Path} failed (request {RequestId})", context.Request.Path, context.TraceIdentifier);
            return Body(StatusCodes.Status500InternalServerError, "server_error",
                $"the server failed to answer (request {context.TraceIdentifier}); the server log has the details", null, "internal_error");
        }
    }

    // OpenAI's type for an /api/v1-style error of this status: 429s as every 429 on /v1 (OpenAiErrors.LimitTypeOf).
    private static string TypeOf(int status, string code) => status switch
    {
        StatusCodes.Status429TooManyRequests => OpenAi.OpenAiErrors.LimitTypeOf(code),
        >= 500 => "server_error",
        _ => "invalid_request_error",
    };

    // Details (such as limit_bytes and used_bytes) go beside OpenAI's four fields, as the limits' 429s add theirs.
    private static IResult Body(int status, string type, string message, string? param, string code, IReadOnlyDictionary<string, object?>? details = null)
    {
        var error = new Dictionary<string, object?> { ["message"] = message, ["type"] = type, ["param"] = param, ["code"] = code };
        foreach (var (name, value) in details ?? new Dictionary<string, object?>())
        {
            error.TryAdd(name, value);
        }

        return Results.Json(new Dictionary<string, object?> { ["error"] = error }, Maas.Server.Errors.ReadableErrorJson.SerializerOptions, statusCode: status);
    }
}
