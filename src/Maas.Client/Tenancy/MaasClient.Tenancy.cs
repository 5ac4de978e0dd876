using System.Globalization;
using Maas.Client.Tenancy;

namespace Maas.Client;

/// <summary>Tenants, API keys and usage.</summary>
public sealed partial class MaasClient
{
    /// <summary>Every tenant (admin).</summary>
    public Task<TenantList> ListTenantsAsync(CancellationToken cancellationToken = default) =>
        SendAsync<TenantList>(HttpMethod.Get, "api/v1/tenants", null, cancellationToken);

    /// <summary>Creates a tenant (admin).</summary>
    public Task<TenantInfo> CreateTenantAsync(string name, CancellationToken cancellationToken = default) =>
        SendAsync<TenantInfo>(HttpMethod.Post, "api/v1/tenants", new { name }, cancellationToken);

    /// <summary>Suspends (<paramref name="disabled"/>) or resumes a tenant (admin): a suspended tenant's keys are refused with 403.</summary>
    public Task<TenantInfo> SetTenantDisabledAsync(string name, bool disabled, CancellationToken cancellationToken = default) =>
        SendAsync<TenantInfo>(HttpMethod.Patch, $"api/v1/tenants/{Escape(name)}", new { disabled }, cancellationToken);

    /// <summary>Deletes a tenant that owns nothing and revokes its keys (admin); 409 tenant_not_empty names what it still owns.</summary>
    public Task DeleteTenantAsync(string name, CancellationToken cancellationToken = default) =>
        SendAsync(HttpMethod.Delete, $"api/v1/tenants/{Escape(name)}", null, cancellationToken);

    /// <summary>Creates an API key (admin); the answer carries the secret, this once.</summary>
    public Task<ApiKeyInfo> CreateKeyAsync(NewApiKey key, CancellationToken cancellationToken = default) =>
        SendAsync<ApiKeyInfo>(HttpMethod.Post, "api/v1/keys", key, cancellationToken);

    /// <summary>API keys (admin), of one tenant when given.</summary>
    public Task<ApiKeyList> ListKeysAsync(string? tenant = null, bool includeRevoked = false, CancellationToken cancellationToken = default) =>
        SendAsync<ApiKeyList>(HttpMethod.Get, "api/v1/keys" + Query(("tenant", tenant), ("include_revoked", includeRevoked ? "true" : null)), null, cancellationToken);

    /// <summary>Revokes a key (admin); revoking twice is a no-op.</summary>
    public Task RevokeKeyAsync(string id, CancellationToken cancellationToken = default) =>
        SendAsync(HttpMethod.Delete, $"api/v1/keys/{Escape(id)}", null, cancellationToken);

    /// <summary>Who the client's key is.</summary>
    public Task<CallerInfo> MeAsync(CancellationToken cancellationToken = default) =>
        SendAsync<CallerInfo>(HttpMethod.Get, "api/v1/me", null, cancellationToken);

    /// <summary>The usage report.</summary>
    public Task<UsageReport> GetUsageAsync(UsageQuery? query = null, CancellationToken cancellationToken = default)
    {
        query ??= new UsageQuery();
        return SendAsync<UsageReport>(
            HttpMethod.Get,
            "api/v1/usage" + Query(
                ("tenant", query.Tenant),
                ("key", query.Key),
                ("model", query.Model),
                ("from", query.From?.ToString("O", CultureInfo.InvariantCulture)),
                ("to", query.To?.ToString("O", CultureInfo.InvariantCulture)),
                ("group_by", query.GroupBy),
                ("limit", query.Limit?.ToString(CultureInfo.InvariantCulture))),
            null,
            cancellationToken);
    }
}
