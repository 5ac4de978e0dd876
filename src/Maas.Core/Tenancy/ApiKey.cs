namespace Maas.Core.Tenancy;

/// <summary>An API key as stored: everything but the secret, which only exists as a salted keyed hash.</summary>
public sealed record ApiKey
{
    /// <summary>The stable id ("key_" and 16 hex digits), used in URLs, usage and audit.</summary>
    public required string Id { get; init; }

    /// <summary>The first characters of the secret, shown in listings so people can tell keys apart.</summary>
    public required string Prefix { get; init; }

    /// <summary>A name for people.</summary>
    public required string Name { get; init; }

    /// <summary>The tenant the key acts for.</summary>
    public required string Tenant { get; init; }

    /// <summary>The scopes it grants (<see cref="MaasScopes"/>).</summary>
    public IReadOnlyList<string> Scopes { get; init; } = [];

    /// <summary>Model names or glob patterns (<c>*</c>, <c>?</c>) it may use; empty means every model its tenant can see.</summary>
    public IReadOnlyList<string> Models { get; init; } = [];

    /// <summary>Its own limits (the tenant's apply as well).</summary>
    public UsageLimits Limits { get; init; } = UsageLimits.None;

    /// <summary>When it stops working, or null for never.</summary>
    public DateTimeOffset? ExpiresAt { get; init; }

    /// <summary>Who created it.</summary>
    public string CreatedBy { get; init; } = "";

    /// <summary>When it was created.</summary>
    public DateTimeOffset CreatedAt { get; init; }

    /// <summary>When it was last used (written in batches, so up to a few seconds late).</summary>
    public DateTimeOffset? LastUsedAt { get; init; }

    /// <summary>When it was revoked, or null.</summary>
    public DateTimeOffset? RevokedAt { get; init; }

    /// <summary>Who revoked it.</summary>
    public string? RevokedBy { get; init; }

    /// <summary>"env" for the key that MAAS_ADMIN_KEY sets (replaced when the variable changes), else null.</summary>
    public string? ManagedBy { get; init; }

    /// <summary>The salt of <see cref="Hash"/> (hex).</summary>
    public string Salt { get; init; } = "";

    /// <summary>HMAC-SHA256 of the secret keyed with <see cref="Salt"/> (hex).</summary>
    public string Hash { get; init; } = "";

    /// <summary>True when the key was revoked or has expired at <paramref name="now"/>.</summary>
    public bool IsUsableAt(DateTimeOffset now) => RevokedAt is null && (ExpiresAt is not { } expires || expires > now);
}
