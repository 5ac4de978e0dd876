namespace Maas.Core.Training;

/// <summary>What a training job does, as stored with the job after the server checked and resolved it.</summary>
public sealed record TrainingSpec
{
    /// <summary>The job kind that runs training specs.</summary>
    public const string Kind = "training";

    /// <summary>The model the result is registered into.</summary>
    public required string Model { get; init; }

    /// <summary>The dataset version trained from (resolved at submission).</summary>
    public required DatasetReference Dataset { get; init; }

    /// <summary>regression, binary-classification or multiclass-classification.</summary>
    public required string Task { get; init; }

    /// <summary>The label column.</summary>
    public required string Label { get; init; }

    /// <summary>The feature columns, in the order the model takes them.</summary>
    public required IReadOnlyList<TabularFeature> Features { get; init; }

    /// <summary>The trainer (chosen by default when the caller gave none).</summary>
    public required string Trainer { get; init; }

    /// <summary>The trainer's hyperparameters (numbers), as given.</summary>
    public IReadOnlyDictionary<string, double> Hyperparameters { get; init; } = new Dictionary<string, double>();

    /// <summary>image-classification: the network's layers as given (null: <see cref="NetworkShapes.DefaultCnn"/>).</summary>
    public IReadOnlyList<NetworkLayer>? Network { get; init; }

    /// <summary>Validation and test fractions and the shuffle seed.</summary>
    public TrainingSplit Split { get; init; } = new();

    /// <summary>An alias to point at the new version, if any.</summary>
    public string? Alias { get; init; }

    /// <summary>Who submitted it (the registered version's creator).</summary>
    public string CreatedBy { get; init; } = "";

    /// <summary>A hyperparameter search to run first (trials as child jobs); the best trial's hyperparameters are then trained and registered.</summary>
    public TrainingSearch? Search { get; init; }
}
