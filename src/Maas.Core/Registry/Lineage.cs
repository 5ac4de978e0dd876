namespace Maas.Core.Registry;

/// <summary>The version a version was derived from (the model by its key), and how ("quantized_from", "trained_from", ...).</summary>
public sealed record Lineage(string Model, int Version, string Relation);
