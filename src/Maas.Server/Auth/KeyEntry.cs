using System.Security.Claims;
using Maas.Core.Tenancy;

namespace Maas.Server.Auth;

/// <summary>A cached key: the stored key, its tenant's limits, and what requests made with it carry along.</summary>
public sealed class KeyEntry
{
    internal KeyEntry(ApiKey key, UsageLimits tenantLimits, bool tenantDisabled, LimitTracker tracker)
    {
        Key = key;
        TenantLimits = tenantLimits;
        TenantDisabled = tenantDisabled;
        Caller = new Caller(key.Id, key.Prefix, key.Name, key.Tenant, key.Scopes, key.Models);
        var identity = new ClaimsIdentity(
            [
                new Claim(MaasClaims.KeyId, key.Id),
                new Claim(MaasClaims.Tenant, key.Tenant),
                new Claim(MaasClaims.KeyPrefix, key.Prefix),
                .. key.Scopes.Select(s => new Claim(MaasClaims.Scope, s)),
            ],
            "ApiKey",
            MaasClaims.KeyId,
            MaasClaims.Scope);
        Principal = new ClaimsPrincipal(identity);
        KeyCounters = tracker.ForKey(key.Id);
        TenantCounters = tracker.ForTenant(key.Tenant);
    }

    /// <summary>The stored key (without its secret).</summary>
    public ApiKey Key { get; }

    /// <summary>The tenant's limits.</summary>
    public UsageLimits TenantLimits { get; }

    /// <summary>Whether the key's tenant is suspended.</summary>
    public bool TenantDisabled { get; }

    /// <summary>The caller requests with this key act as.</summary>
    public Caller Caller { get; }

    /// <summary>The principal set as HttpContext.User (Identity.Name is the key id).</summary>
    public ClaimsPrincipal Principal { get; }

    /// <summary>The key's limit counters.</summary>
    public LimitCounters KeyCounters { get; }

    /// <summary>The tenant's limit counters.</summary>
    public LimitCounters TenantCounters { get; }

    /// <summary>The key's status at <paramref name="now"/>.</summary>
    public KeyStatus StatusAt(DateTimeOffset now) =>
        Key.RevokedAt is not null ? KeyStatus.Revoked
        : Key.ExpiresAt is { } expires && expires <= now ? KeyStatus.Expired
        : TenantDisabled ? KeyStatus.TenantDisabled
        : KeyStatus.Valid;
}
