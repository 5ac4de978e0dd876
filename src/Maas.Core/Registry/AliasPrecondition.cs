namespace Maas.Core.Registry;

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
