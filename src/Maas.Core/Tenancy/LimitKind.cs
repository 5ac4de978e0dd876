namespace Maas.Core.Tenancy;

/// <summary>Which limit a request ran into.</summary>
public enum LimitKind
{
    /// <summary>Requests per rate window.</summary>
    RequestsPerMinute,

    /// <summary>Tokens per rate window.</summary>
    TokensPerMinute,

    /// <summary>Requests running at once.</summary>
    ConcurrentRequests,

    /// <summary>Tokens per UTC day.</summary>
    DailyTokens,

    /// <summary>Tokens per UTC month.</summary>
    MonthlyTokens,

    /// <summary>Compute seconds per UTC day.</summary>
    DailyComputeSeconds,

    /// <summary>Compute seconds per UTC month.</summary>
    MonthlyComputeSeconds,
}
