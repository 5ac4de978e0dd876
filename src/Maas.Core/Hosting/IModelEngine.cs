using Maas.Core.Formats;

namespace Maas.Core.Hosting;

/// <summary>
/// An engine the <see cref="ModelHost"/> loads models with (ONNX Runtime, llama.cpp): its name, the formats it runs,
/// how much memory a model will take, and the load itself. What the engine does with a loaded model (a dynamic
/// batcher, a continuous-batching loop) stays inside what <see cref="LoadAsync"/> returns.
/// </summary>
public interface IModelEngine
{
    /// <summary>The engine's name in states, metrics and logs (<c>onnxruntime</c>, <c>llama.cpp</c>).</summary>
    string Name { get; }

    /// <summary>The model formats this engine loads.</summary>
    IReadOnlyList<ModelFormat> Formats { get; }

    /// <summary>The memory a load of <paramref name="request"/> will take, in bytes, before it is loaded (for the budget).</summary>
    long EstimateMemoryBytes(ModelLoadRequest request);

    /// <summary>Loads the model; slow, called off the request path. Throws with the reason when it cannot.</summary>
    Task<IHostedModel> LoadAsync(ModelLoadRequest request, CancellationToken cancellationToken);

    /// <summary>True when a model loaded with <paramref name="loaded"/> serves <paramref name="fresh"/> as it is (no reload).</summary>
    bool SameSettings(ModelLoadRequest loaded, ModelLoadRequest fresh) => Equals(loaded.Settings, fresh.Settings);
}
