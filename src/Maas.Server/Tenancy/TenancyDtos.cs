using Maas.Core.Tenancy;

namespace Maas.Server.Tenancy;

/// <summary>POST /api/v1/tenants.</summary>
internal sealed record CreateTenantRequest
{
    public string? Name { get; init; }

    public UsageLimits? Limits { get; init; }
}

/// <summary>PATCH /api/v1/tenants/{name}: new limits (replaced as a whole), suspend or resume, or both.</summary>
internal sealed record UpdateTenantRequest
{
    public UsageLimits? Limits { get; init; }

    public bool? Disabled { get; init; }
}

/// <summary>POST /api/v1/keys.</summary>
internal sealed record CreateKeyRequest
{
    public string? Name { get; init; }

    public string? Tenant { get; init; }

    public IReadOnlyList<string>? Scopes { get; init; }

    public IReadOnlyList<string>? Models { get; init; }

    public DateTimeOffset? ExpiresAt { get; init; }

    public UsageLimits? Limits { get; init; }
}

/// <summary>A tenant as the API shows it.</summary>
internal sealed record TenantDto(string Name, UsageLimits Limits, string CreatedBy, DateTimeOffset CreatedAt, bool Disabled, DateTimeOffset? DisabledAt, string? DisabledBy)
{
    public static TenantDto From(Tenant t) => new(t.Name, t.Limits, t.CreatedBy, t.CreatedAt, t.Disabled, t.DisabledAt, t.DisabledBy);
}

/// <summary>A key as the API shows it; <see cref="Key"/> only in the answer to its creation.</summary>
internal sealed record KeyDto
{
    public required string Id { get; init; }

    public string? Key { get; init; }

    public required string Prefix { get; init; }

    public required string Name { get; init; }

    public required string Tenant { get; init; }

    public required IReadOnlyList<string> Scopes { get; init; }

    public required IReadOnlyList<string> Models { get; init; }

    public required UsageLimits Limits { get; init; }

    public DateTimeOffset? ExpiresAt { get; init; }

    public required string Status { get; init; }

    public required string CreatedBy { get; init; }

    public DateTimeOffset CreatedAt { get; init; }

    public DateTimeOffset? LastUsedAt { get; init; }

    public DateTimeOffset? RevokedAt { get; init; }

    public string? RevokedBy { get; init; }

    public string? ManagedBy { get; init; }

    public static KeyDto From(ApiKey k, DateTimeOffset now, string? secret = null) => new()
    {
        Id = k.Id,
        Key = secret,
        Prefix = k.Prefix,
        Name = k.Name,
        Tenant = k.Tenant,
        Scopes = k.Scopes,
        Models = k.Models,
        Limits = k.Limits,
        ExpiresAt = k.ExpiresAt,
        Status = k.RevokedAt is not null ? "revoked" : k.ExpiresAt is { } e && e <= now ? "expired" : "active",
        CreatedBy = k.CreatedBy,
        CreatedAt = k.CreatedAt,
        LastUsedAt = k.LastUsedAt,
        RevokedAt = k.RevokedAt,
        RevokedBy = k.RevokedBy,
        ManagedBy = k.ManagedBy,
    };
}
