namespace Maas.Core.Registry;

/// <summary>One registry change: the model (by its key), and the version or alias it concerns.</summary>
public sealed record RegistryChange(RegistryChangeKind Kind, string Model, int? Version = null, string? Alias = null);
