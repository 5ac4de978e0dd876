using System.Text.Json.Serialization;

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

    /// <summary>
    /// Tenants only: the most bytes of artifacts the tenant's models may hold, overriding the server-wide
    /// <c>Maas:Registry:TenantStorageQuotaBytes</c> (0 = no quota for this tenant).
    /// </summary>
    public long? StorageQuotaBytes { get; init; }

    /// <summary>
    /// Tenants only: the most bytes the tenant's loaded models may take together on each server (0 = no quota); a load
    /// over it evicts the tenant's own least recently used idle models, else is refused.
    /// </summary>
    public long? MemoryQuotaBytes { get; init; }

    /// <summary>No limits at all.</summary>
    public static UsageLimits None { get; } = new();

    /// <summary>True when no limit is set.</summary>
    [JsonIgnore] // Derived, not a limit: tenant and key answers list only the limits.
    public bool IsEmpty => this == None;

    /// <summary>True when a daily or monthly budget is set (the tracker then needs the period's usage so far).</summary>
    [JsonIgnore]
    public bool HasBudget => DailyTokens is not null || MonthlyTokens is not null || DailyComputeSeconds is not null || MonthlyComputeSeconds is not null;

    /// <summary>The problems with these limits, each naming its field; <paramref name="tenant"/> when they are a tenant's.</summary>
    public IReadOnlyList<string> Validate(bool tenant = false)
    {
        var errors = new List<string>();
        if (StorageQuotaBytes is { } quota && (!tenant || quota < 0))
        {
            errors.Add(tenant
                ? $"limits.storage_quota_bytes must be 0 (no quota) or more, not {quota}"
                : "limits.storage_quota_bytes is a tenant's limit; set it on the tenant (PATCH /api/v1/tenants/{name}), not on a key");
        }

        if (MemoryQuotaBytes is { } memory && (!tenant || memory < 0))
        {
            errors.Add(tenant
                ? $"limits.memory_quota_bytes must be 0 (no quota) or more, not {memory}"
                : "limits.memory_quota_bytes is a tenant's limit; set it on the tenant (PATCH /api/v1/tenants/{name}), not on a key");
        }

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
