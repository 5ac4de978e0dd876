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
