namespace Maas.Core.Registry;

/// <summary>A named pointer ("production", "staging", ...) at one version of a model.</summary>
/// <param name="Name">The alias name.</param>
/// <param name="Version">The version it points at.</param>
/// <param name="Revision">Increases by one on every move; the HTTP layer exposes it as the ETag for compare-and-set.</param>
/// <param name="UpdatedAt">When it last moved.</param>
/// <param name="UpdatedBy">Who moved it.</param>
public sealed record ModelAlias(string Name, int Version, long Revision, DateTimeOffset UpdatedAt, string UpdatedBy);

/// <summary>What must hold for an alias move to happen; a move whose condition fails is a conflict (409).</summary>
public sealed record AliasPrecondition
{
    /// <summary>No condition: the last writer wins, atomically.</summary>
    public static AliasPrecondition None { get; } = new();

    /// <summary>The alias must be at this revision (HTTP If-Match).</summary>
    public long? Revision { get; init; }

    /// <summary>The alias must point at this version now (compare-and-set by version).</summary>
    public int? CurrentVersion { get; init; }

    /// <summary>The alias must not exist yet (HTTP If-None-Match: *).</summary>
    public bool MustNotExist { get; init; }

    /// <summary>True when any condition is set.</summary>
    public bool IsConditional => Revision is not null || CurrentVersion is not null || MustNotExist;
}
