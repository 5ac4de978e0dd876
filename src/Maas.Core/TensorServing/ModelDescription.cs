namespace Maas.Core.TensorServing;

/// <summary>What the metadata endpoints show for a model version.</summary>
public sealed record ModelDescription(
    string Name,
    int Version,
    IReadOnlyList<int> Versions,
    string Platform,
    IReadOnlyList<TensorMetadata> Inputs,
    IReadOnlyList<TensorMetadata> Outputs,
    bool Loaded);
