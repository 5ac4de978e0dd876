using System.Text.Json.Nodes;
using Maas.Client.Inference;

namespace Maas.Client;

/// <summary>Open Inference Protocol v2 (ONNX models).</summary>
public sealed partial class MaasClient
{
    /// <summary>A model's inputs and outputs (<c>GET /v2/models/{model}</c>); <paramref name="model"/> is a registry reference.</summary>
    public Task<ModelMetadata> GetModelMetadataAsync(string model, CancellationToken cancellationToken = default) =>
        SendAsync<ModelMetadata>(HttpMethod.Get, V2Path(model), null, cancellationToken);

    /// <summary>Runs a model (<c>POST /v2/models/{model}/infer</c>).</summary>
    public Task<InferResponse> InferAsync(string model, InferRequest request, CancellationToken cancellationToken = default) =>
        SendAsync<InferResponse>(HttpMethod.Post, V2Path(model) + "/infer", request, cancellationToken);

    /// <summary>Runs a model trained from a table on rows of column values (<c>{"instances": [...]}</c>).</summary>
    public Task<RowPredictions> PredictRowsAsync(string model, JsonArray instances, CancellationToken cancellationToken = default) =>
        SendAsync<RowPredictions>(HttpMethod.Post, ModelPath("api/v1/models", model) + "/predict", new JsonObject { ["instances"] = instances }, cancellationToken);

    /// <summary>
    /// The same for a table file sent as it is: <paramref name="contentType"/> <c>text/csv</c>,
    /// <c>text/tab-separated-values</c> or <c>application/jsonl</c>; columns that are not features are left out.
    /// </summary>
    public async Task<RowPredictions> PredictRowsAsync(string model, Stream table, string contentType, CancellationToken cancellationToken = default)
    {
        var content = new StreamContent(table);
        content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue(contentType);
        using var request = new HttpRequestMessage(HttpMethod.Post, ModelPath("api/v1/models", model) + "/predict") { Content = content };
        using var response = await SendRawAsync(request, cancellationToken);
        return await ReadAsync<RowPredictions>(response, cancellationToken);
    }

    private static string V2Path(string model) => ModelPath("v2/models", model);

    // name/versions/N addresses one version; anything else (name, name:alias) is the model segment.
    private static string ModelPath(string prefix, string model)
    {
        var split = model.IndexOf("/versions/", StringComparison.Ordinal);
        return split < 0
            ? $"{prefix}/{Escape(model)}"
            : $"{prefix}/{Escape(model[..split])}/versions/{Escape(model[(split + "/versions/".Length)..])}";
    }
}
