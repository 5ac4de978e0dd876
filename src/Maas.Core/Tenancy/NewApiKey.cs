namespace Maas.Core.Tenancy;

/// <summary>What a caller gives to create a key (the secret is generated).</summary>
public sealed record NewApiKey(
    string Name,
    string Tenant,
    IReadOnlyList<string> Scopes,
    IReadOnlyList<string> Models,
    DateTimeOffset? ExpiresAt,
    UsageLimits Limits,
    string CreatedBy,
    string? ManagedBy = null);
