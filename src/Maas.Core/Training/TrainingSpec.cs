using System.Text.Json.Serialization;

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

/// <summary>A dataset version by name, number and content hash.</summary>
public sealed record DatasetReference(string Name, int Version, string Sha256);

/// <summary>Held-out fractions and the seed of the shuffle; classification splits keep each class's share.</summary>
public sealed record TrainingSplit
{
    /// <summary>The fraction for validation (0 to 0.5).</summary>
    public double Validation { get; init; } = 0.1;

    /// <summary>The fraction for the test evaluation (0.05 to 0.5).</summary>
    public double Test { get; init; } = 0.2;

    /// <summary>The shuffle seed (also the trainers' seed).</summary>
    public int Seed { get; init; } = 42;

    /// <summary>
    /// How many of a group's <paramref name="rows"/> (one class's labelled rows, or every labelled row for regression) go
    /// to validation and to test; the rest train. Each share is rounded, and validation gives way so at least one row
    /// trains. The job splits by this, and submission checks by it that no split it needs is left empty.
    /// </summary>
    public (int Validation, int Test) Counts(int rows)
    {
        var test = (int)Math.Round(rows * Test);
        var validation = (int)Math.Round(rows * Validation);
        if (rows - test - validation < 1)
        {
            validation = Math.Max(0, rows - test - 1);
        }

        return (validation, test);
    }
}

/// <summary>One input column of a tabular model: its name and whether it is a number or a category.</summary>
public sealed record TabularFeature(string Name, string Type)
{
    /// <summary>A numeric feature (float input; booleans become 0/1; missing values are imputed with the mean).</summary>
    public const string Number = "number";

    /// <summary>A categorical feature (string input, one-hot encoded; unseen values encode as all zeros).</summary>
    public const string Category = "category";
}

/// <summary>
/// How a registered tabular model is called row by row (version metadata "maas.tabular"): its task, its inputs in
/// order, its classes and which ONNX outputs carry the answer.
/// </summary>
public sealed record TabularModelInfo
{
    /// <summary>The metadata key it is stored under.</summary>
    public const string MetadataKey = "maas.tabular";

    /// <summary>regression, binary-classification or multiclass-classification.</summary>
    public required string Task { get; init; }

    /// <summary>The feature columns; each is one ONNX input of shape [N, 1] with the same name.</summary>
    public required IReadOnlyList<TabularFeature> Features { get; init; }

    /// <summary>The class labels (classification), in score order; for binary the second is the positive class.</summary>
    public IReadOnlyList<string>? Classes { get; init; }

    /// <summary>True when the label column held numbers (predicted labels are then numbers too).</summary>
    public bool NumericLabel { get; init; }

    /// <summary>The ONNX output with the score (regression value, binary raw score, multiclass per-class scores).</summary>
    public required string ScoreOutput { get; init; }

    /// <summary>The ONNX output with the predicted label (binary), if any.</summary>
    public string? LabelOutput { get; init; }

    /// <summary>The ONNX output with the positive class probability (binary, calibrated trainers), if any.</summary>
    public string? ProbabilityOutput { get; init; }

    /// <summary>Names a job and the version it registered, so a retried job adopts it instead of registering twice.</summary>
    public const string JobMetadataKey = "maas.job";

    /// <summary>The evaluation on the test split (JSON object).</summary>
    public const string EvaluationMetadataKey = "maas.evaluation";

    /// <summary>The lineage: dataset, job, trainer, hyperparameters, seed (JSON object).</summary>
    public const string LineageMetadataKey = "maas.lineage";

    /// <summary>What a well-formed value of <see cref="MetadataKey"/> holds, for refusals that name it.</summary>
    public const string Expected = "a JSON object with \"task\", \"features\" ({\"name\", \"type\": number or category} each) and \"score_output\"";

    /// <summary>
    /// Reads a stored <see cref="MetadataKey"/> value; null when it is not what a training job writes (a version stored
    /// before maas.* keys were reserved for the server may hold anything).
    /// </summary>
    public static TabularModelInfo? TryRead(string text)
    {
        try
        {
            return System.Text.Json.JsonSerializer.Deserialize<TabularModelInfo>(text, Registry.RegistryJson.Options) is { } info
                && info.Task is { Length: > 0 } && info.ScoreOutput is { Length: > 0 }
                && info.Features is { Count: > 0 } features && features.All(f => f is { Name.Length: > 0, Type: TabularFeature.Number or TabularFeature.Category })
                && (info.Classes is null || info.Classes.All(c => c is not null))
                ? info
                : null;
        }
        catch (System.Text.Json.JsonException)
        {
            return null;
        }
    }
}

/// <summary>A training job's result: the registered version and its evaluation.</summary>
public sealed record TrainingResult(
    [property: JsonPropertyName("model")] string Model,
    [property: JsonPropertyName("version")] int Version,
    [property: JsonPropertyName("evaluation")] IReadOnlyDictionary<string, object?> Evaluation)
{
    /// <summary>The search report (every trial and the best), when the job searched.</summary>
    [JsonPropertyName("search")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public object? Search { get; init; }
}
