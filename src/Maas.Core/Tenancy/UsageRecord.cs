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

/// <summary>How usage rows are bucketed.</summary>
public enum UsageGrouping
{
    /// <summary>One row per tenant, key, model over the whole range.</summary>
    None,

    /// <summary>Per UTC hour.</summary>
    Hour,

    /// <summary>Per UTC day.</summary>
    Day,
}

/// <summary>A usage query: every given filter must match; the time range is [From, To).</summary>
public sealed record UsageQuery
{
    /// <summary>Only this tenant.</summary>
    public string? Tenant { get; init; }

    /// <summary>Only this key id.</summary>
    public string? KeyId { get; init; }

    /// <summary>Only this model.</summary>
    public string? Model { get; init; }

    /// <summary>From (inclusive).</summary>
    public DateTimeOffset? From { get; init; }

    /// <summary>To (exclusive).</summary>
    public DateTimeOffset? To { get; init; }

    /// <summary>The bucketing.</summary>
    public UsageGrouping GroupBy { get; init; }

    /// <summary>The most rows returned.</summary>
    public int Limit { get; init; } = 10_000;

    /// <summary>
    /// When set, only the rows it keeps are returned (and counted against <see cref="Limit"/>): how a key limited to
    /// some models is narrowed to them, its patterns being globs the database cannot match.
    /// </summary>
    public Func<UsageRow, bool>? Keep { get; init; }
}

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

/// <summary>What a subject used in the current day and month (seeds the budget counters).</summary>
public readonly record struct PeriodUsage(long DayTokens, double DayComputeMs, long MonthTokens, double MonthComputeMs);
