namespace Maas.Core.Registry;

/// <summary>What the uploader says about a new version besides its files.</summary>
public sealed record NewVersionOptions
{
    /// <summary>A version number to use instead of the next free one; taken numbers give a 409.</summary>
    public int? Version { get; init; }

    /// <summary>Free-form metadata.</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; init; } = new Dictionary<string, string>();

    /// <summary>Lineage: the version this one was derived from.</summary>
    public Lineage? DerivedFrom { get; init; }

    /// <summary>Who creates it.</summary>
    public string CreatedBy { get; init; } = "";
}
