namespace Maas.Core.Registry;

/// <summary>One input or output tensor as the model file declares it; -1 marks a symbolic dimension.</summary>
public sealed record TensorSignature(string Name, string Datatype, IReadOnlyList<long> Shape, IReadOnlyList<string?>? DimNames = null);
