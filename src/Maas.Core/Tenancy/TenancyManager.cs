using Maas.Core.Registry;

namespace Maas.Core.Tenancy;

/// <summary>Creating tenants and keys with their rules checked, and revoking keys; raises <see cref="Changed"/> after each change.</summary>
public sealed class TenancyManager(ITenancyStore store, TimeProvider time)
{
    /// <summary>The longest key name.</summary>
    public const int MaxKeyNameLength = 100;

    /// <summary>The most model patterns one key may list.</summary>
    public const int MaxModelPatterns = 100;

    /// <summary>Raised after a key or tenant changed (the server drops its key cache so the change applies at once).</summary>
    public event EventHandler? Changed;

    /// <summary>The store.</summary>
    public ITenancyStore Store => store;

    /// <summary>Creates a tenant; throws invalid_name, invalid_limits or tenant_exists.</summary>
    public async Task<Tenant> CreateTenantAsync(string? name, UsageLimits? limits, string createdBy, CancellationToken cancellationToken)
    {
        ValidateTenantName(name);
        var tenant = new Tenant
        {
            Name = name!,
            Limits = ValidLimits(limits, tenant: true),
            CreatedBy = createdBy,
            CreatedAt = Now(),
        };
        await store.CreateTenantAsync(tenant, cancellationToken).ConfigureAwait(false);
        return tenant;
    }

    /// <summary>Replaces a tenant's limits; throws tenant_not_found.</summary>
    public async Task<Tenant> SetTenantLimitsAsync(string name, UsageLimits? limits, CancellationToken cancellationToken)
    {
        var valid = ValidLimits(limits, tenant: true);
        if (!await store.SetTenantLimitsAsync(name, valid, cancellationToken).ConfigureAwait(false))
        {
            throw TenantNotFound(name);
        }

        Changed?.Invoke(this, EventArgs.Empty);
        return await store.GetTenantAsync(name, cancellationToken).ConfigureAwait(false) ?? throw TenantNotFound(name);
    }

    /// <summary>
    /// Suspends or resumes a tenant, replacing its limits too when <paramref name="limits"/> is given (checked before
    /// anything changes); throws tenant_not_found, invalid_limits, or default_tenant_protected for the default tenant.
    /// </summary>
    public async Task<Tenant> SetTenantDisabledAsync(string name, bool disabled, string actor, CancellationToken cancellationToken, UsageLimits? limits = null)
    {
        if (disabled && name == Tenant.DefaultName)
        {
            throw DefaultTenantProtected("disabled");
        }

        if (limits is not null)
        {
            ValidLimits(limits, tenant: true);
            await SetTenantLimitsAsync(name, limits, cancellationToken).ConfigureAwait(false);
        }

        if (!await store.SetTenantDisabledAsync(name, disabled, actor, Now(), cancellationToken).ConfigureAwait(false))
        {
            throw TenantNotFound(name);
        }

        Changed?.Invoke(this, EventArgs.Empty);
        return await store.GetTenantAsync(name, cancellationToken).ConfigureAwait(false) ?? throw TenantNotFound(name);
    }

    /// <summary>
    /// Deletes a tenant that owns nothing and revokes its keys; throws tenant_not_found, default_tenant_protected,
    /// or tenant_not_empty naming what it still owns.
    /// </summary>
    public async Task DeleteTenantAsync(string name, string actor, CancellationToken cancellationToken)
    {
        if (name == Tenant.DefaultName)
        {
            throw DefaultTenantProtected("deleted");
        }

        if (await store.GetTenantAsync(name, cancellationToken).ConfigureAwait(false) is null)
        {
            throw TenantNotFound(name);
        }

        var holdings = await store.DeleteTenantAsync(name, actor, Now(), cancellationToken).ConfigureAwait(false);
        if (!holdings.IsEmpty)
        {
            throw TenancyException.Conflict(
                "tenant_not_empty",
                $"tenant '{name}' still owns {holdings.Describe()}; delete them (or let the jobs finish, or cancel them) first, then delete the tenant");
        }

        Changed?.Invoke(this, EventArgs.Empty);
    }

    /// <summary>
    /// Creates a key and returns it with its secret (the only time the secret exists outside the caller's hands).
    /// <paramref name="secret"/> is for MAAS_ADMIN_KEY; otherwise one is generated.
    /// </summary>
    public async Task<(ApiKey Key, string Secret)> CreateKeyAsync(NewApiKey request, CancellationToken cancellationToken, string? secret = null)
    {
        var name = request.Name?.Trim() ?? "";
        if (name.Length is 0 or > MaxKeyNameLength || name.Any(char.IsControl))
        {
            throw TenancyException.Invalid("invalid_key_name", $"a key name needs 1 to {MaxKeyNameLength} printable characters");
        }

        if (request.Scopes is null || request.Scopes.Count == 0)
        {
            throw TenancyException.Invalid("invalid_scopes", $"a key needs at least one scope of: {string.Join(", ", MaasScopes.All)}");
        }

        // Any(), not FirstOrDefault(): a null entry (JSON null) must be refused too, not read as "none found".
        if (request.Scopes.Any(s => !MaasScopes.IsKnown(s)))
        {
            var unknown = request.Scopes.First(s => !MaasScopes.IsKnown(s));
            throw TenancyException.Invalid("invalid_scopes", $"{Quoted(unknown)} is not a scope; use {string.Join(", ", MaasScopes.All)}");
        }

        var models = request.Models ?? [];
        if (models.Count > MaxModelPatterns)
        {
            throw TenancyException.Invalid("invalid_models", $"a key may list at most {MaxModelPatterns} models or patterns");
        }

        if (models.Any(m => !ModelPatterns.IsValid(m)))
        {
            var bad = models.First(m => !ModelPatterns.IsValid(m));
            throw TenancyException.Invalid("invalid_models", $"{Quoted(bad)} is not a model name or pattern (a-z 0-9 . _ - and the wildcards * ?, with one '/' for 'tenant/name')");
        }

        var now = Now();
        if (request.ExpiresAt is { } expires && expires <= now)
        {
            throw TenancyException.Invalid("invalid_expires_at", "expires_at must be in the future");
        }

        ValidateTenantName(request.Tenant);
        var tenant = await store.GetTenantAsync(request.Tenant, cancellationToken).ConfigureAwait(false) ?? throw TenantNotFound(request.Tenant);
        if (tenant.DisabledAt is not null)
        {
            throw TenantDisabled(request.Tenant); // the store checks again in the insert's transaction
        }

        secret ??= ApiKeySecrets.Generate();
        if (!ApiKeySecrets.IsWellFormed(secret))
        {
            throw TenancyException.Invalid(
                "invalid_key",
                $"a key must be {ApiKeySecrets.MinLength} to {ApiKeySecrets.MaxLength} characters of A-Z a-z 0-9 - _ .");
        }

        var salt = ApiKeySecrets.NewSalt();
        var key = new ApiKey
        {
            Id = ApiKeySecrets.NewId(),
            Prefix = ApiKeySecrets.PrefixOf(secret),
            Name = name,
            Tenant = request.Tenant,
            Scopes = request.Scopes.Distinct(StringComparer.Ordinal).ToArray(),
            Models = models.Distinct(StringComparer.Ordinal).ToArray(),
            Limits = ValidLimits(request.Limits),
            ExpiresAt = request.ExpiresAt,
            CreatedBy = request.CreatedBy,
            CreatedAt = now,
            ManagedBy = request.ManagedBy,
            Salt = salt,
            Hash = ApiKeySecrets.Hash(secret, salt),
        };
        await store.CreateKeyAsync(key, cancellationToken).ConfigureAwait(false);
        Changed?.Invoke(this, EventArgs.Empty);
        return (key, secret);
    }

    /// <summary>Revokes a key; throws key_not_found. Revoking a revoked key changes nothing.</summary>
    public async Task<ApiKey> RevokeKeyAsync(string id, string revokedBy, CancellationToken cancellationToken)
    {
        var key = await store.GetKeyAsync(id, cancellationToken).ConfigureAwait(false) ?? throw KeyNotFound(id);
        if (key.RevokedAt is null)
        {
            await store.RevokeKeyAsync(id, revokedBy, Now(), cancellationToken).ConfigureAwait(false);
            Changed?.Invoke(this, EventArgs.Empty);
        }

        return await store.GetKeyAsync(id, cancellationToken).ConfigureAwait(false) ?? key;
    }

    /// <summary>The error for a missing key id.</summary>
    public static TenancyException KeyNotFound(string id) => TenancyException.NotFound("key_not_found", $"key '{RegistryNames.Shorten(id)}' does not exist");

    /// <summary>The error for a missing tenant.</summary>
    public static TenancyException TenantNotFound(string name) => TenancyException.NotFound("tenant_not_found", $"tenant '{RegistryNames.Shorten(name)}' does not exist");

    /// <summary>The error for a key asked for a suspended tenant.</summary>
    public static TenancyException TenantDisabled(string name) => TenancyException.Conflict(
        "tenant_disabled",
        $"tenant '{RegistryNames.Shorten(name)}' is disabled, so no key can be created for it; enable it first (PATCH /api/v1/tenants/{RegistryNames.Shorten(name)} " +
        $"{{\"disabled\": false}})");

    private static TenancyException DefaultTenantProtected(string what) => TenancyException.Conflict(
        "default_tenant_protected",
        $"the '{Tenant.DefaultName}' tenant holds the first admin key and models without another owner; it cannot be {what}");

    /// <summary>A refused list entry for a message; a JSON null in the list is named as such.</summary>
    private static string Quoted(string? value) => value is null ? "null" : $"'{RegistryNames.Shorten(value)}'";

    private static void ValidateTenantName(string? name)
    {
        if (!RegistryNames.IsValidName(name))
        {
            throw TenancyException.Invalid(
                "invalid_name",
                $"'{RegistryNames.Shorten(name)}' is not a valid tenant name: use 1 to {RegistryNames.MaxNameLength} characters from a-z, 0-9, '.', '_' and '-', " +
                $"starting with a letter or digit");
        }
    }

    private static UsageLimits ValidLimits(UsageLimits? limits, bool tenant = false)
    {
        var value = limits ?? UsageLimits.None;
        var errors = value.Validate(tenant);
        return errors.Count == 0 ? value : throw TenancyException.Invalid("invalid_limits", string.Join("; ", errors));
    }

    private DateTimeOffset Now() => DateTimeOffset.FromUnixTimeMilliseconds(time.GetUtcNow().ToUnixTimeMilliseconds());
}
