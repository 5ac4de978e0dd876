namespace Maas.Core.Registry;

/// <summary>A named model: the home of its numbered versions, its aliases and its serving configuration.</summary>
public sealed record Model
{
    /// <summary>The database id (stable, never reused).</summary>
    public required long Id { get; init; }

    /// <summary>The name, unique within its owner tenant, <see cref="RegistryNames.NamePattern"/>.</summary>
    public required string Name { get; init; }

    /// <summary>The canonical key that names the model across tenants (<see cref="ModelKeys"/>).</summary>
    public string Key => ModelKeys.Of(Owner, Name);

    /// <summary>The name with its owner: <c>owner/name</c>.</summary>
    public string QualifiedName => ModelKeys.Qualified(Owner, Name);

    /// <summary>Free text for people.</summary>
    public string Description { get; init; } = "";

    /// <summary>Labels to search by, each a valid name.</summary>
    public IReadOnlyList<string> Tags { get; init; } = [];

    /// <summary>What the model does ("text-generation", "image-classification", ...), searchable.</summary>
    public string? Task { get; init; }

    /// <summary>Private to the owner or shared with every tenant.</summary>
    public ModelVisibility Visibility { get; init; } = ModelVisibility.Private;

    /// <summary>The tenant that owns the model.</summary>
    public string Owner { get; init; } = DefaultOwner;

    /// <summary>Who created it.</summary>
    public string CreatedBy { get; init; } = "";

    /// <summary>When it was created.</summary>
    public DateTimeOffset CreatedAt { get; init; }

    /// <summary>When its description, tags, task, visibility or serving configuration last changed.</summary>
    public DateTimeOffset UpdatedAt { get; init; }

    /// <summary>How serving runs the model's versions.</summary>
    public ServingConfig ServingConfig { get; init; } = new();

    /// <summary>The highest ready version, or null when it has none (filled in by listings).</summary>
    public int? LatestVersion { get; init; }

    /// <summary>The tenant models belong to until tenancy says otherwise.</summary>
    public const string DefaultOwner = "default";
}
