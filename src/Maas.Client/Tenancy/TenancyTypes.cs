using System.Text.Json;
using System.Text.Json.Serialization;

namespace Maas.Client.Tenancy;

/// <summary>A tenant and its limits.</summary>
public sealed record TenantInfo
{
    public required string Name { get; init; }

    public JsonElement? Limits { get; init; }

    public string? CreatedBy { get; init; }

    public DateTimeOffset? CreatedAt { get; init; }

    /// <summary>Suspended: its keys are refused until it is enabled again.</summary>
    public bool Disabled { get; init; }

    public DateTimeOffset? DisabledAt { get; init; }

    public string? DisabledBy { get; init; }

    /// <summary>Fields this client does not know.</summary>
    [JsonExtensionData]
    public Dictionary<string, JsonElement>? Extra { get; init; }
}

/// <summary>Every tenant.</summary>
public sealed record TenantList(IReadOnlyList<TenantInfo> Tenants);

/// <summary>An API key as listed (no secret), or as created (with <see cref="Key"/>, shown that once).</summary>
public sealed record ApiKeyInfo
{
    public required string Id { get; init; }

    /// <summary>The secret: only in the answer to a create.</summary>
    public string? Key { get; init; }

    public string? Prefix { get; init; }

    public required string Name { get; init; }

    public string? Tenant { get; init; }

    public IReadOnlyList<string>? Scopes { get; init; }

    public IReadOnlyList<string>? Models { get; init; }

    public JsonElement? Limits { get; init; }

    public DateTimeOffset? ExpiresAt { get; init; }

    public string? Status { get; init; }

    public string? CreatedBy { get; init; }

    public DateTimeOffset? CreatedAt { get; init; }

    public DateTimeOffset? LastUsedAt { get; init; }

    public DateTimeOffset? RevokedAt { get; init; }

    /// <summary>Fields this client does not know.</summary>
    [JsonExtensionData]
    public Dictionary<string, JsonElement>? Extra { get; init; }
}

/// <summary>API keys.</summary>
public sealed record ApiKeyList(IReadOnlyList<ApiKeyInfo> Keys);

/// <summary>A new key: <c>POST /api/v1/keys</c>.</summary>
public sealed record NewApiKey(string Name)
{
    public string? Tenant { get; init; }

    public IReadOnlyList<string> Scopes { get; init; } = [];

    public IReadOnlyList<string> Models { get; init; } = [];

    public DateTimeOffset? ExpiresAt { get; init; }
}

/// <summary>The caller: <c>GET /api/v1/me</c>.</summary>
public sealed record CallerInfo(string KeyId, string? KeyPrefix, string? KeyName, string Tenant, IReadOnlyList<string> Scopes, IReadOnlyList<string>? Models);

/// <summary>Filters and grouping of a usage report.</summary>
public sealed record UsageQuery
{
    public string? Tenant { get; init; }

    public string? Key { get; init; }

    public string? Model { get; init; }

    public DateTimeOffset? From { get; init; }

    public DateTimeOffset? To { get; init; }

    /// <summary><c>hour</c>, <c>day</c> or <c>none</c>.</summary>
    public string? GroupBy { get; init; }

    public int? Limit { get; init; }
}

/// <summary>One row of a usage report.</summary>
public sealed record UsageRow
{
    public string? Period { get; init; }

    public string? Tenant { get; init; }

    public string? KeyId { get; init; }

    public string? Model { get; init; }

    public long Requests { get; init; }

    public long Errors { get; init; }

    public long PromptTokens { get; init; }

    public long CompletionTokens { get; init; }

    public long TotalTokens { get; init; }

    public long BatchItems { get; init; }

    public double ComputeMs { get; init; }

    public double AvgLatencyMs { get; init; }

    public double MaxLatencyMs { get; init; }

    /// <summary>Fields this client does not know.</summary>
    [JsonExtensionData]
    public Dictionary<string, JsonElement>? Extra { get; init; }
}

/// <summary>A usage report: rows and totals.</summary>
public sealed record UsageReport(string? GroupBy, IReadOnlyList<UsageRow> Rows, UsageRow? Totals);
