namespace Maas.Core.TensorServing;

/// <summary>What went wrong with an inference call, in terms every protocol can map to its own status.</summary>
public enum InferenceErrorKind
{
    /// <summary>The caller's request is malformed or does not fit the model (HTTP 400, gRPC INVALID_ARGUMENT).</summary>
    InvalidInput,

    /// <summary>The model or version does not exist (HTTP 404, gRPC NOT_FOUND).</summary>
    NotFound,

    /// <summary>The model's queue is full; retry later (HTTP 429, gRPC RESOURCE_EXHAUSTED).</summary>
    QueueFull,

    /// <summary>The model cannot serve now: unloaded, unloading, or failed to load (HTTP 503, gRPC UNAVAILABLE).</summary>
    Unavailable,

    /// <summary>The request's timeout passed before it completed (HTTP 504, gRPC DEADLINE_EXCEEDED).</summary>
    Timeout,

    /// <summary>The caller went away (gRPC CANCELLED; HTTP has nobody left to answer).</summary>
    Cancelled,

    /// <summary>Our fault or the engine's (HTTP 500, gRPC INTERNAL).</summary>
    Internal,
}

/// <summary>An inference failure with its kind and a message meant for the caller.</summary>
public sealed class InferenceException : Exception
{
    /// <summary>Creates the exception.</summary>
    public InferenceException(InferenceErrorKind kind, string message, Exception? inner = null)
        : base(message, inner)
    {
        Kind = kind;
    }

    /// <summary>What went wrong.</summary>
    public InferenceErrorKind Kind { get; }

    /// <summary>For <see cref="InferenceErrorKind.QueueFull"/>: when to retry.</summary>
    public TimeSpan? RetryAfter { get; init; }

    /// <summary>For <see cref="InferenceErrorKind.QueueFull"/> (and a load that outlasted its wait limit): the value of the limit that was reached.</summary>
    public long? Limit { get; init; }

    /// <summary>For <see cref="InferenceErrorKind.QueueFull"/>: which limit (<c>queue_limit</c>, <c>queue_time_budget_ms</c>, <c>memory_quota_bytes</c>); for <see cref="InferenceErrorKind.Unavailable"/>: <c>load_wait_ms</c>.</summary>
    public string? LimitName { get; init; }
}
