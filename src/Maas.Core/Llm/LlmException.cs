namespace Maas.Core.Llm;

/// <summary>What went wrong with an LLM request, in terms the protocol layer maps to a status.</summary>
public enum LlmErrorKind
{
    /// <summary>A parameter is missing, malformed or out of range (400).</summary>
    InvalidRequest,

    /// <summary>The model does not exist or is not an LLM (404).</summary>
    NotFound,

    /// <summary>The prompt plus the requested completion does not fit the context (400).</summary>
    ContextOverflow,

    /// <summary>The request queue or the token budget is full; retry later (429).</summary>
    QueueFull,

    /// <summary>The model cannot be loaded or is shutting down (503).</summary>
    Unavailable,

    /// <summary>The request waited for the model longer than the server allows (504, as a queued inference request's timeout).</summary>
    Timeout,

    /// <summary>The engine failed (500).</summary>
    Internal,
}

/// <summary>An LLM request refused or failed, with a message meant for the caller.</summary>
public sealed class LlmException : Exception
{
    /// <summary>Creates the exception.</summary>
    public LlmException(LlmErrorKind kind, string message, string? param = null, string? code = null, Exception? inner = null)
        : base(message, inner)
    {
        Kind = kind;
        Param = param;
        Code = code;
    }

    /// <summary>What went wrong.</summary>
    public LlmErrorKind Kind { get; }

    /// <summary>The request parameter at fault, when there is one (OpenAI's <c>param</c>).</summary>
    public string? Param { get; }

    /// <summary>A stable machine-readable code (OpenAI's <c>code</c>), e.g. "context_length_exceeded".</summary>
    public string? Code { get; }

    /// <summary>For <see cref="LlmErrorKind.QueueFull"/> and <see cref="LlmErrorKind.Timeout"/>: when a retry may succeed.</summary>
    public TimeSpan? RetryAfter { get; init; }

    /// <summary>A 400 for a bad parameter.</summary>
    public static LlmException Invalid(string message, string? param = null, string? code = "invalid_value") =>
        new(LlmErrorKind.InvalidRequest, message, param, code);
}
