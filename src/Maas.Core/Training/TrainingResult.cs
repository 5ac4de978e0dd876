using System.Text.Json.Serialization;

namespace Maas.Core.Training;

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
