namespace Maas.Core.Registry;

/// <summary>What a caller gives to create a model.</summary>
public sealed record NewModel(
    string Name,
    string Description,
    IReadOnlyList<string> Tags,
    string? Task,
    ModelVisibility Visibility,
    string Owner,
    string CreatedBy);
