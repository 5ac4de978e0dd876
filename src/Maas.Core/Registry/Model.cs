namespace Maas.Core.Registry;

/// <summary>Who may see and call a model: only its owner tenant, or every tenant.</summary>
public enum ModelVisibility
{
    /// <summary>Only the owner tenant.</summary>
    Private,

    /// <summary>Readable and callable by every tenant.</summary>
    Shared,
}

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

/// <summary>What a caller gives to create a model.</summary>
public sealed record NewModel(
    string Name,
    string Description,
    IReadOnlyList<string> Tags,
    string? Task,
    ModelVisibility Visibility,
    string Owner,
    string CreatedBy);

/// <summary>A partial change of a model's descriptive fields; null leaves a field as it is.</summary>
public sealed record ModelUpdate(string? Description = null, IReadOnlyList<string>? Tags = null, string? Task = null, ModelVisibility? Visibility = null);

/// <summary>A search over models; every given filter must match.</summary>
public sealed record ModelQuery
{
    /// <summary>A part of the name.</summary>
    public string? NameContains { get; init; }

    /// <summary>Exactly this name (in any tenant the other filters allow).</summary>
    public string? Name { get; init; }

    /// <summary>Tags the model must all carry.</summary>
    public IReadOnlyList<string> Tags { get; init; } = [];

    /// <summary>The model's task.</summary>
    public string? Task { get; init; }

    /// <summary>The model must have a ready version in this format.</summary>
    public Formats.ModelFormat? Format { get; init; }

    /// <summary>Only models of this owner tenant.</summary>
    public string? Owner { get; init; }

    /// <summary>Only models this tenant may see: its own and the shared ones (null: all).</summary>
    public string? VisibleTo { get; init; }

    /// <summary>How many to return.</summary>
    public int Limit { get; init; } = 100;

    /// <summary>How many to skip (ordered by name).</summary>
    public int Offset { get; init; }
}

/// <summary>One page of a model search and the total number that matched.</summary>
public sealed record ModelPage(IReadOnlyList<Model> Models, int Total);
