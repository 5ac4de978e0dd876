using System.Globalization;
using System.Text.Json;
using Maas.Core.Tenancy;
using Maas.Server.Errors;

namespace Maas.Server.Auth;

/// <summary>Writes auth refusals in the route's own error format (keys never appear in them).</summary>
public static class AuthErrors
{
    /// <summary>The style for a request path (REST) when the route does not say.</summary>
    public static ErrorStyle StyleOf(PathString path) =>
        path.StartsWithSegments("/v1") ? ErrorStyle.OpenAi
        : path.StartsWithSegments("/v2") ? ErrorStyle.Oip
        : Ollama.OllamaRoutes.Owns(path) ? ErrorStyle.Ollama
        : ErrorStyle.Management;

    /// <summary>Writes <paramref name="failure"/> as the whole response.</summary>
    public static async Task WriteAsync(HttpContext context, ErrorStyle style, AuthFailure failure)
    {
        var response = context.Response;
        if (failure.RetryAfter is { } retry)
        {
            response.Headers.RetryAfter = Math.Max(1, (long)Math.Ceiling(retry.TotalSeconds)).ToString(CultureInfo.InvariantCulture);
        }

        if (IsQuota(failure) && style != ErrorStyle.Grpc)
        {
            // OpenAI's clients retry every 429 twice unless told not to; a spent daily or monthly quota will not come back
            // within their backoff.
            response.Headers[ShouldRetryHeader] = "false";
        }

        if (failure.Status == StatusCodes.Status401Unauthorized && style != ErrorStyle.Grpc)
        {
            response.Headers.WWWAuthenticate = "Bearer realm=\"maas\"";
        }

        if (style == ErrorStyle.Grpc)
        {
            // Trailers-only response: HTTP 200 with the gRPC status in one HEADERS frame that ends the stream. It is
            // not flushed: a flush sends the headers without END_STREAM, and the stream then ends with no status at all.
            response.StatusCode = StatusCodes.Status200OK;
            response.ContentType = "application/grpc";
            response.Headers["grpc-status"] = GrpcCode(failure.Status).ToString(CultureInfo.InvariantCulture);
            response.Headers["grpc-message"] = TensorInference.Grpc.GrpcStatus.EncodeMessage(failure.Message);
            return;
        }

        response.StatusCode = failure.Status;
        response.ContentType = "application/json";
        await response.Body.WriteAsync(Body(style, failure), context.RequestAborted);
    }

    /// <summary>The gRPC status code for an HTTP status (UNAUTHENTICATED, PERMISSION_DENIED, NOT_FOUND, RESOURCE_EXHAUSTED, ...).</summary>
    public static int GrpcCode(int status) => status switch
    {
        400 => 3, // INVALID_ARGUMENT
        401 => 16, // UNAUTHENTICATED
        403 => 7, // PERMISSION_DENIED
        404 => 5, // NOT_FOUND
        429 => 8, // RESOURCE_EXHAUSTED
        503 => 14, // UNAVAILABLE
        _ => 13, // INTERNAL
    };

    /// <summary>The JSON body of <paramref name="failure"/> in <paramref name="style"/> (not for gRPC, which has none).</summary>
    internal static byte[] Body(ErrorStyle style, AuthFailure failure)
    {
        using var stream = new MemoryStream();
        using (var json = new Utf8JsonWriter(stream, ReadableErrorJson.WriterOptions))
        {
            json.WriteStartObject();
            if (style is ErrorStyle.Oip or ErrorStyle.Ollama)
            {
                json.WriteString("error", failure.Message);

                // The protocol's error is a message alone; the code beside it lets a client tell a missing scope from a
                // bad key without reading the words. Ollama's stays exactly {"error"}, as its clients read it.
                if (style == ErrorStyle.Oip)
                {
                    json.WriteString("code", failure.Code);
                }

                if (failure.Limit is { } limit)
                {
                    // Beside the flat message, as the OIP adapter's own queue refusals name theirs (limit, limit_value).
                    json.WriteString("limit", limit.Name);
                    json.WriteNumber("limit_value", limit.Value);
                    json.WriteString("scope", limit.Scope);
                    WriteTiming(json, limit, failure.RetryAfter);
                }
            }
            else
            {
                json.WriteStartObject("error");
                if (style == ErrorStyle.OpenAi)
                {
                    json.WriteString("message", failure.Message);
                    json.WriteString("type", OpenAiType(failure));
                    json.WriteString("param", failure.Param);
                    json.WriteString("code", failure.Code);
                }
                else
                {
                    json.WriteString("code", failure.Code);
                    json.WriteString("message", failure.Message);
                }

                if (failure.Limit is { } limit)
                {
                    json.WriteString("limit", limit.Name);
                    json.WriteString("scope", limit.Scope);
                    json.WriteNumber("value", limit.Value);
                }

                WriteTiming(json, failure.Limit, failure.RetryAfter);
                json.WriteEndObject();
            }

            json.WriteEndObject();
        }

        return stream.ToArray();
    }

    // When a limit resets and how long to wait, in every style that has a body.
    private static void WriteTiming(Utf8JsonWriter json, LimitRejection? limit, TimeSpan? retryAfter)
    {
        if (limit?.ResetAt is { } reset)
        {
            json.WriteString("reset_at", reset.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ss.fffZ", CultureInfo.InvariantCulture));
        }

        if (retryAfter is { } retry)
        {
            json.WriteNumber("retry_after_seconds", Math.Max(1, Math.Ceiling(retry.TotalSeconds)));
        }
    }

    /// <summary>The header OpenAI's clients read to decide whether to retry a failed request.</summary>
    public const string ShouldRetryHeader = "x-should-retry";

    // A daily or monthly budget spent: no retry within seconds can succeed.
    private static bool IsQuota(AuthFailure failure) => failure.Status == StatusCodes.Status429TooManyRequests
        && failure.Limit?.Kind is LimitKind.DailyTokens or LimitKind.MonthlyTokens or LimitKind.DailyComputeSeconds or LimitKind.MonthlyComputeSeconds;

    private static string OpenAiType(AuthFailure failure) => failure.Status switch
    {
        // OpenAI's types for its own limits (see OpenAiErrors): tokens per minute, a spent quota, anything else counted in requests.
        429 when failure.Limit?.Kind is LimitKind.TokensPerMinute => OpenAi.OpenAiErrors.TokensLimitType,
        429 when IsQuota(failure) => OpenAi.OpenAiErrors.QuotaType,
        429 => OpenAi.OpenAiErrors.RequestsLimitType,
        403 => "permission_error",
        401 => "invalid_request_error",
        >= 500 => "server_error",
        _ => "invalid_request_error",
    };

    /// <summary>The refusal for a limit: 429 with which limit, its value, and when it resets.</summary>
    public static AuthFailure RateLimited(LimitRejection rejection, DateTimeOffset now)
    {
        var retry = rejection.ResetAt is { } reset ? reset - now : TimeSpan.FromSeconds(1);
        if (retry < TimeSpan.Zero)
        {
            retry = TimeSpan.FromSeconds(1);
        }

        var value = rejection.Value.ToString("0.###", CultureInfo.InvariantCulture);
        var when = rejection.ResetAt is null ? "when a running request finishes" : $"in {Math.Max(1, Math.Ceiling(retry.TotalSeconds)).ToString(CultureInfo.InvariantCulture)} s";
        var code = rejection.Kind is LimitKind.DailyTokens or LimitKind.MonthlyTokens or LimitKind.DailyComputeSeconds or LimitKind.MonthlyComputeSeconds
            ? "quota_exceeded"
            : "rate_limit_exceeded";
        return new AuthFailure(
            StatusCodes.Status429TooManyRequests,
            code,
            $"the {rejection.Scope}'s limit {rejection.Name} = {value} is reached; it resets {when}",
            rejection,
            retry);
    }
}
