namespace Maas.Core.Tenancy;

/// <summary>A refused admission: which limit of which subject, its value, what was used, and when it resets.</summary>
public sealed record LimitRejection(LimitKind Kind, string Scope, double Value, double Used, DateTimeOffset? ResetAt)
{
    /// <summary>The limit's name as the API spells it (snake_case).</summary>
    public string Name => Kind switch
    {
        LimitKind.RequestsPerMinute => "requests_per_minute",
        LimitKind.TokensPerMinute => "tokens_per_minute",
        LimitKind.ConcurrentRequests => "concurrent_requests",
        LimitKind.DailyTokens => "daily_tokens",
        LimitKind.MonthlyTokens => "monthly_tokens",
        LimitKind.DailyComputeSeconds => "daily_compute_seconds",
        _ => "monthly_compute_seconds",
    };
}
