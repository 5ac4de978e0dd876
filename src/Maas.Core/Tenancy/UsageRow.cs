namespace Maas.Core.Tenancy;

/// <summary>One row of a usage report: totals of one tenant, key and model in one bucket.</summary>
public sealed record UsageRow
{
    /// <summary>The bucket's start (null when not grouped by time).</summary>
    public DateTimeOffset? Period { get; init; }

    /// <summary>The tenant.</summary>
    public required string Tenant { get; init; }

    /// <summary>The key id, or null for anonymous calls.</summary>
    public string? KeyId { get; init; }

    /// <summary>The model, or null for calls without one.</summary>
    public string? Model { get; init; }

    /// <summary>Requests.</summary>
    public long Requests { get; init; }

    /// <summary>Requests answered with a status of 400 or more.</summary>
    public long Errors { get; init; }

    /// <summary>Prompt tokens.</summary>
    public long PromptTokens { get; init; }

    /// <summary>Completion tokens.</summary>
    public long CompletionTokens { get; init; }

    /// <summary>Prompt plus completion tokens.</summary>
    public long TotalTokens => PromptTokens + CompletionTokens;

    /// <summary>Batch items.</summary>
    public long BatchItems { get; init; }

    /// <summary>Compute milliseconds.</summary>
    public double ComputeMs { get; init; }

    /// <summary>Mean latency in milliseconds.</summary>
    public double AvgLatencyMs { get; init; }

    /// <summary>Worst latency in milliseconds.</summary>
    public double MaxLatencyMs { get; init; }
}
