namespace Maas.Core.Tenancy;

/// <summary>Where tenants, keys, usage and the audit log live (the registry's database).</summary>
public interface ITenancyStore
{
    /// <summary>Creates a tenant; throws tenant_exists.</summary>
    Task<Tenant> CreateTenantAsync(Tenant tenant, CancellationToken cancellationToken);

    /// <summary>A tenant, or null.</summary>
    Task<Tenant?> GetTenantAsync(string name, CancellationToken cancellationToken);

    /// <summary>All tenants by name.</summary>
    Task<IReadOnlyList<Tenant>> ListTenantsAsync(CancellationToken cancellationToken);

    /// <summary>Replaces a tenant's limits; false when it does not exist.</summary>
    Task<bool> SetTenantLimitsAsync(string name, UsageLimits limits, CancellationToken cancellationToken);

    /// <summary>Suspends (<paramref name="disabled"/>) or resumes a tenant; false when it does not exist. Suspending a suspended one keeps its first time.</summary>
    Task<bool> SetTenantDisabledAsync(string name, bool disabled, string actor, DateTimeOffset at, CancellationToken cancellationToken);

    /// <summary>What a tenant still owns: models, datasets, deployments, fine-tuning files and unfinished jobs.</summary>
    Task<TenantHoldings> GetTenantHoldingsAsync(string name, CancellationToken cancellationToken);

    /// <summary>
    /// Deletes a tenant that owns nothing and revokes its keys, in one transaction; returns what it still owns (then
    /// nothing changed), empty holdings when it was deleted. Usage and audit rows stay; the name is not reused.
    /// </summary>
    Task<TenantHoldings> DeleteTenantAsync(string name, string actor, DateTimeOffset at, CancellationToken cancellationToken);

    /// <summary>Stores a new key (already hashed).</summary>
    Task CreateKeyAsync(ApiKey key, CancellationToken cancellationToken);

    /// <summary>A key by id, or null.</summary>
    Task<ApiKey?> GetKeyAsync(string id, CancellationToken cancellationToken);

    /// <summary>Keys, optionally of one tenant, newest first; revoked ones only when asked.</summary>
    Task<IReadOnlyList<ApiKey>> ListKeysAsync(string? tenant, bool includeRevoked, CancellationToken cancellationToken);

    /// <summary>The keys with this visible prefix (usually one) together with their tenant's limits and whether it is suspended: the one query of a cache miss.</summary>
    Task<IReadOnlyList<(ApiKey Key, UsageLimits TenantLimits, bool TenantDisabled)>> FindKeysByPrefixAsync(string prefix, CancellationToken cancellationToken);

    /// <summary>Revokes a key; false when it does not exist or was already revoked.</summary>
    Task<bool> RevokeKeyAsync(string id, string revokedBy, DateTimeOffset at, CancellationToken cancellationToken);

    /// <summary>Records last-used times (only moving them forward).</summary>
    Task TouchKeysAsync(IReadOnlyCollection<KeyValuePair<string, DateTimeOffset>> lastUsed, CancellationToken cancellationToken);

    /// <summary>The change counter every key and tenant change moves forward (other nodes poll it to drop their caches).</summary>
    Task<long> GetEpochAsync(CancellationToken cancellationToken);

    /// <summary>Claims the one-time bootstrap; true for the single caller (of all nodes) that should create the defaults.</summary>
    Task<bool> ClaimBootstrapAsync(CancellationToken cancellationToken);

    /// <summary>Appends usage records and audit entries in one transaction.</summary>
    Task AppendAsync(IReadOnlyList<UsageRecord> usage, IReadOnlyList<AuditEntry> audit, CancellationToken cancellationToken);

    /// <summary>Usage totals.</summary>
    Task<IReadOnlyList<UsageRow>> QueryUsageAsync(UsageQuery query, CancellationToken cancellationToken);

    /// <summary>What a key (<paramref name="keyId"/>) or else a tenant used since the given day and month starts.</summary>
    Task<PeriodUsage> GetPeriodUsageAsync(string? keyId, string? tenant, DateTimeOffset dayStart, DateTimeOffset monthStart, CancellationToken cancellationToken);

    /// <summary>Audit entries, newest first.</summary>
    Task<IReadOnlyList<AuditEntry>> QueryAuditAsync(AuditQuery query, CancellationToken cancellationToken);
}
