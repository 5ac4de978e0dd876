using Maas.Core.Registry;

namespace Maas.Core.Datasets;

/// <summary>A named, tenant-owned collection of numbered, immutable dataset versions.</summary>
public sealed record Dataset
{
    /// <summary>The unique name.</summary>
    public required string Name { get; init; }

    /// <summary>The owning tenant.</summary>
    public required string Owner { get; init; }

    /// <summary>Private (the owner's tenant only) or shared (every tenant may read it).</summary>
    public ModelVisibility Visibility { get; init; }

    /// <summary>Free text.</summary>
    public string Description { get; init; } = "";

    /// <summary>Who created it.</summary>
    public string CreatedBy { get; init; } = "";

    /// <summary>When it was created.</summary>
    public DateTimeOffset CreatedAt { get; init; }

    /// <summary>The newest version, if any.</summary>
    public int? LatestVersion { get; init; }
}
