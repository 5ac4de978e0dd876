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

    /// <summary>When an admin suspended it (its keys are refused with 403 until it is enabled again), or null.</summary>
    public DateTimeOffset? DisabledAt { get; init; }

    /// <summary>Who suspended it, or null.</summary>
    public string? DisabledBy { get; init; }

    /// <summary>Whether its keys are refused.</summary>
    public bool Disabled => DisabledAt is not null;

    /// <summary>The tenant the bootstrap creates, and models belong to until told otherwise.</summary>
    public const string DefaultName = "default";
}
