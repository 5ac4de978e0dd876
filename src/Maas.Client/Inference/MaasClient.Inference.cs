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

    // name/versions/N addresses one version; anything else (name, name:alias) is the model segment.
    private static string V2Path(string model)
    {
        var split = model.IndexOf("/versions/", StringComparison.Ordinal);
        return split < 0
            ? $"v2/models/{Escape(model)}"
            : $"v2/models/{Escape(model[..split])}/versions/{Escape(model[(split + "/versions/".Length)..])}";
    }
}
