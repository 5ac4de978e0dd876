namespace Maas.Core.Llm;

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
