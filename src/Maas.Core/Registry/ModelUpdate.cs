namespace Maas.Core.Registry;

/// <summary>A partial change of a model's descriptive fields; null leaves a field as it is.</summary>
public sealed record ModelUpdate(string? Description = null, IReadOnlyList<string>? Tags = null, string? Task = null, ModelVisibility? Visibility = null);
