using Maas.Core.Registry;
using Maas.Core.Training;

namespace Maas.Training;

/// <summary>
/// The training lineage a version is evaluated by: the training record that names its feature and label columns (null
/// when none does), and the version it derives from when that is gone (so nothing names them).
/// </summary>
public sealed record TrainingLineage(TrainingRecord? Record, Lineage? Missing)
{
    /// <summary>The feature columns the record names, or null.</summary>
    public IReadOnlyList<string>? Features => Record?.Features;

    /// <summary>The label column the record names, or null.</summary>
    public string? Label => Record?.Label;

    /// <summary>The image column an image classifier was trained on (the record's one feature), or null.</summary>
    public string? ImageColumn => Record?.ImageColumn;
}
