namespace Maas.Core.Tenancy;

/// <summary>One metered request: who, what, how it went and what it cost.</summary>
public sealed record UsageRecord
{
    /// <summary>When the request started.</summary>
    public required DateTimeOffset At { get; init; }

    /// <summary>The tenant it was served for.</summary>
    public required string Tenant { get; init; }

    /// <summary>The key used, or null for an anonymous call.</summary>
    public string? KeyId { get; init; }

    /// <summary>The model called or managed, if any.</summary>
    public string? Model { get; init; }

    /// <summary>The model version, when known.</summary>
    public int? Version { get; init; }

    /// <summary>"openai", "oip-rest", "oip-grpc", "predict" or "api" (management).</summary>
    public required string Protocol { get; init; }

    /// <summary>The route template or gRPC method (never the raw path with its values).</summary>
    public string Operation { get; init; } = "";

    /// <summary>The HTTP status (gRPC: the HTTP status of the call, 200 with a gRPC status in <see cref="Operation"/>'s answer).</summary>
    public int Status { get; init; }

    /// <summary>Wall-clock time from the request's start to its last byte, in milliseconds.</summary>
    public double LatencyMs { get; init; }

    /// <summary>LLM prompt tokens.</summary>
    public long PromptTokens { get; init; }

    /// <summary>LLM completion tokens.</summary>
    public long CompletionTokens { get; init; }

    /// <summary>Rows of a batch (inference requests with a batch dimension).</summary>
    public long BatchItems { get; init; }

    /// <summary>Engine compute time in milliseconds.</summary>
    public double ComputeMs { get; init; }

    /// <summary>Prompt plus completion tokens.</summary>
    public long TotalTokens => PromptTokens + CompletionTokens;
}
