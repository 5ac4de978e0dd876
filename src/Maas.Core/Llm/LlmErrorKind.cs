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
