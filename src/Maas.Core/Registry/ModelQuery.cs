namespace Maas.Core.Registry;

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
