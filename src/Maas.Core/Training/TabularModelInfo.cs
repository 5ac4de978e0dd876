namespace Maas.Core.Training;

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
