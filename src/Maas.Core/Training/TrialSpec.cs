using System.Globalization;

namespace Maas.Core.Training;

/// <summary>One trial of a search: a child job that fits one set of hyperparameters and reports validation metrics.</summary>
public sealed record TrialSpec(TrainingSpec Training, string Parent, int Index)
{
    /// <summary>The job kind of trials.</summary>
    public const string Kind = "training-trial";

    /// <summary>The child job id of trial <paramref name="index"/> of <paramref name="parent"/>: fixed, so a resumed parent finds its children.</summary>
    public static string JobId(string parent, int index) => $"{parent}-trial{index.ToString("D3", CultureInfo.InvariantCulture)}";
}
