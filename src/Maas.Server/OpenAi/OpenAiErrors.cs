using System.Globalization;
using System.Text.Json;
using Maas.Core.Llm;
using Maas.Core.Registry;
using Maas.Server.Errors;

namespace Maas.Server.OpenAi;

/// <summary>OpenAI's error body <c>{"error": {"message", "type", "param", "code"}}</c> with the matching HTTP status.</summary>
internal static class OpenAiErrors
{
    /// <summary>
    /// OpenAI's <c>type</c> of a 429 for a limit on requests (its requests-per-minute limits): every 429 on /v1 that is
    /// neither <see cref="TokensLimitType"/> nor <see cref="QuotaType"/>: request rates and concurrency, failed
    /// authentications, new connections, full queues, the tenant's unfinished jobs.
    /// </summary>
    public const string RequestsLimitType = "requests";

    /// <summary>OpenAI's <c>type</c> of a 429 for a limit on tokens (its tokens-per-minute limits): a key's or tenant's
    /// tokens per minute, the server's budget of tokens in flight.</summary>
    public const string TokensLimitType = "tokens";

    /// <summary>OpenAI's <c>type</c> (and its <c>code</c>) for a spent quota: a tenant's daily or monthly budgets, its
    /// storage and memory quotas.</summary>
    public const string QuotaType = "insufficient_quota";

    /// <summary>The OpenAI type of a 429 whose <c>code</c> is <paramref name="code"/> and that no tenant limit names.</summary>
    public static string LimitTypeOf(string? code) => code switch
    {
        "token_budget_exceeded" => TokensLimitType,
        "memory_quota_exceeded" or "storage_quota_exceeded" => QuotaType,
        _ => RequestsLimitType,
    };

    /// <summary>The status and OpenAI error type for an LLM failure.</summary>
    public static (int Status, string Type) Classify(LlmException error) => error.Kind switch
    {
        LlmErrorKind.InvalidRequest or LlmErrorKind.ContextOverflow => (StatusCodes.Status400BadRequest, "invalid_request_error"),
        LlmErrorKind.NotFound => (StatusCodes.Status404NotFound, "invalid_request_error"),
        LlmErrorKind.QueueFull => (StatusCodes.Status429TooManyRequests, LimitTypeOf(error.Code)),
        LlmErrorKind.Unavailable => (StatusCodes.Status503ServiceUnavailable, "server_error"),
        LlmErrorKind.Timeout => (StatusCodes.Status504GatewayTimeout, "server_error"),
        _ => (StatusCodes.Status500InternalServerError, "server_error"),
    };

    /// <summary>Turns a registry failure met while resolving a model into the LLM error the caller sees.</summary>
    public static LlmException FromRegistry(RegistryException error, string model) => error.Kind switch
    {
        RegistryErrorKind.NotFound => new LlmException(LlmErrorKind.NotFound, $"The model '{model}' does not exist ({error.Message})", "model", "model_not_found"),
        RegistryErrorKind.Invalid => new LlmException(LlmErrorKind.InvalidRequest, error.Message, "model", error.Code),
        RegistryErrorKind.Unavailable => new LlmException(LlmErrorKind.Unavailable, error.Message, "model", error.Code),
        _ => new LlmException(LlmErrorKind.InvalidRequest, error.Message, "model", error.Code),
    };

    /// <summary>Writes the error as the whole response.</summary>
    public static async Task WriteAsync(HttpContext context, LlmException error)
    {
        var (status, type) = Classify(error);
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/json";
        if (error.RetryAfter is { } retry)
        {
            context.Response.Headers.RetryAfter = Math.Max(1, (int)Math.Ceiling(retry.TotalSeconds)).ToString(CultureInfo.InvariantCulture);
        }

        await context.Response.Body.WriteAsync(Body(error, type), context.RequestAborted);
    }

    /// <summary>The JSON error body.</summary>
    public static byte[] Body(LlmException error, string? type = null)
    {
        using var stream = new MemoryStream();
        using (var json = new Utf8JsonWriter(stream, ReadableErrorJson.WriterOptions))
        {
            json.WriteStartObject();
            json.WriteStartObject("error");
            json.WriteString("message", error.Message);
            json.WriteString("type", type ?? Classify(error).Type);
            json.WriteString("param", error.Param);
            json.WriteString("code", error.Code);
            json.WriteEndObject();
            json.WriteEndObject();
        }

        return stream.ToArray();
    }
}
