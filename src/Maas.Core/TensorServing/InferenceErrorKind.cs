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
