namespace Maas.Core.Tenancy;

/// <summary>A team sharing the server: it owns models and keys, and has its own limits.</summary>
public sealed record Tenant
{
    /// <summary>The unique name, also the tenant's id (models name their owner by it).</summary>
    public required string Name { get; init; }

    /// <summary>Limits over all of the tenant's keys together.</summary>
    public UsageLimits Limits { get; init; } = UsageLimits.None;

    /// <summary>Who created it (a key id, or "system" for the bootstrap).</summary>
    public string CreatedBy { get; init; } = "";

    /// <summary>When it was created.</summary>
    public DateTimeOffset CreatedAt { get; init; }

    /// <summary>The tenant the bootstrap creates, and models belong to until told otherwise.</summary>
    public const string DefaultName = "default";
}
