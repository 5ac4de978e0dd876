namespace Maas.Core.Tenancy;

/// <summary>The limits of a key or a tenant; null leaves a limit off.</summary>
/// <remarks>
/// "Per minute" means per rate window, 60 s unless <c>Maas:Limits:WindowSeconds</c> says otherwise. Budgets count
/// calendar days and months in UTC. Tokens are LLM prompt plus completion tokens; compute is engine time.
/// </remarks>
public sealed record UsageLimits
{
    /// <summary>Requests per rate window.</summary>
    public long? RequestsPerMinute { get; init; }

    /// <summary>LLM tokens (prompt + completion) per rate window.</summary>
    public long? TokensPerMinute { get; init; }

    /// <summary>Requests running at once.</summary>
    public int? ConcurrentRequests { get; init; }

    /// <summary>LLM tokens per UTC day.</summary>
    public long? DailyTokens { get; init; }

    /// <summary>LLM tokens per UTC calendar month.</summary>
    public long? MonthlyTokens { get; init; }

    /// <summary>Compute seconds per UTC day.</summary>
    public double? DailyComputeSeconds { get; init; }

    /// <summary>Compute seconds per UTC calendar month.</summary>
    public double? MonthlyComputeSeconds { get; init; }

    /// <summary>No limits at all.</summary>
    public static UsageLimits None { get; } = new();

    /// <summary>True when no limit is set.</summary>
    public bool IsEmpty => this == None;

    /// <summary>True when a daily or monthly budget is set (the tracker then needs the period's usage so far).</summary>
    public bool HasBudget => DailyTokens is not null || MonthlyTokens is not null || DailyComputeSeconds is not null || MonthlyComputeSeconds is not null;

    /// <summary>The problems with these limits, each naming its field.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        Positive(RequestsPerMinute, "requests_per_minute");
        Positive(TokensPerMinute, "tokens_per_minute");
        Positive(ConcurrentRequests, "concurrent_requests");
        Positive(DailyTokens, "daily_tokens");
        Positive(MonthlyTokens, "monthly_tokens");
        if (DailyComputeSeconds is { } d && !(d > 0 && double.IsFinite(d)))
        {
            errors.Add("limits.daily_compute_seconds must be a positive number");
        }

        if (MonthlyComputeSeconds is { } m && !(m > 0 && double.IsFinite(m)))
        {
            errors.Add("limits.monthly_compute_seconds must be a positive number");
        }

        return errors;

        void Positive(long? value, string name)
        {
            if (value is < 1)
            {
                errors.Add($"limits.{name} must be at least 1, not {value}");
            }
        }
    }
}
