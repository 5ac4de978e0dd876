namespace Maas.Core.TensorServing;

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

    /// <summary>For <see cref="InferenceErrorKind.QueueFull"/>: which limit (<c>queue_limit</c>, <c>queue_time_budget_ms</c>, <c>memory_quota_bytes</c>); for
    /// <see cref="InferenceErrorKind.Unavailable"/>: <c>load_wait_ms</c>.</summary>
    public string? LimitName { get; init; }
}
