namespace Maas.Core.Registry;

/// <summary>
/// A partial change of a model's descriptive fields; null leaves a field as it is, and <see cref="ClearTask"/> takes
/// the model's task away (a task is optional, so a model that had one must be able to have none again).
/// </summary>
public sealed record ModelUpdate(
    string? Description = null,
    IReadOnlyList<string>? Tags = null,
    string? Task = null,
    ModelVisibility? Visibility = null,
    bool ClearTask = false);
