using System.Text.Json.Nodes;

namespace Maas.Client.Inference;

/// <summary>A tensor of an Open Inference Protocol v2 request or answer; <see cref="Data"/> is row-major, flat or nested.</summary>
public sealed record InferTensor(string Name, string Datatype, IReadOnlyList<long> Shape, JsonNode? Data)
{
    public JsonObject? Parameters { get; init; }
}

/// <summary>An OIP v2 infer request.</summary>
public sealed record InferRequest(IReadOnlyList<InferTensor> Inputs)
{
    public string? Id { get; init; }

    public JsonObject? Parameters { get; init; }
}

/// <summary>An OIP v2 infer answer.</summary>
public sealed record InferResponse(string ModelName, string? ModelVersion, IReadOnlyList<InferTensor> Outputs)
{
    public string? Id { get; init; }
}

/// <summary>The name, datatype and shape (-1 = dynamic) of a model input or output.</summary>
public sealed record TensorSpec(string Name, string Datatype, IReadOnlyList<long> Shape);

/// <summary>OIP v2 model metadata.</summary>
public sealed record ModelMetadata(string Name, IReadOnlyList<string>? Versions, string? Platform, IReadOnlyList<TensorSpec> Inputs, IReadOnlyList<TensorSpec> Outputs);

/// <summary>
/// The answers of <c>POST /api/v1/models/{m}/predict</c> for rows: per row a number (regression) or
/// <c>{"label", "probabilities": {"class": p}}</c> (classification), and the columns of a table body that are not features.
/// </summary>
public sealed record RowPredictions(string ModelName, string? ModelVersion, IReadOnlyList<JsonNode?> Predictions)
{
    public IReadOnlyList<string>? IgnoredColumns { get; init; }
}
