using System.Globalization;

namespace Maas.Core.Training;

/// <summary>A hyperparameter search, planned when the job was submitted: the trials to run and how to pick the best.</summary>
public sealed record TrainingSearch
{
    /// <summary>grid or random.</summary>
    public required string Method { get; init; }

    /// <summary>The validation metric trials are compared by (accuracy, macro_f1, log_loss, auc, rmse, mae, r2).</summary>
    public required string Metric { get; init; }

    /// <summary>True when a larger metric is better.</summary>
    public bool Maximize { get; init; }

    /// <summary>Each trial's full hyperparameters (the fixed ones merged in).</summary>
    public required IReadOnlyList<IReadOnlyDictionary<string, double>> Trials { get; init; }
}

/// <summary>One trial of a search: a child job that fits one set of hyperparameters and reports validation metrics.</summary>
public sealed record TrialSpec(TrainingSpec Training, string Parent, int Index)
{
    /// <summary>The job kind of trials.</summary>
    public const string Kind = "training-trial";

    /// <summary>The child job id of trial <paramref name="index"/> of <paramref name="parent"/>: fixed, so a resumed parent finds its children.</summary>
    public static string JobId(string parent, int index) => $"{parent}-trial{index.ToString("D3", CultureInfo.InvariantCulture)}";
}

/// <summary>A trial's answer: its hyperparameters and validation metrics.</summary>
public sealed record TrialResult(int Index, IReadOnlyDictionary<string, double> Hyperparameters, IReadOnlyDictionary<string, double> Metrics);
