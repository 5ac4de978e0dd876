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

/// <summary>A model an engine loaded; disposing it unloads it (the host does so only once no request holds it).</summary>
public interface IHostedModel : IAsyncDisposable
{
    /// <summary>The model file it was loaded from (its mapped pages are counted as the model's).</summary>
    string ArtifactPath { get; }

    /// <summary>Memory the engine itself counts for the model (weights, caches), in bytes; 0 when it cannot tell.</summary>
    long EngineMemoryBytes { get; }

    /// <summary>Engine instances serving the model (a tensor engine's sessions; one for an engine with a single loop).</summary>
    int InstanceCount => 1;
}

/// <summary>What the host needs to load, keep and reload one model version.</summary>
public sealed record ModelLoadRequest
{
    /// <summary>The version to load.</summary>
    public required ModelKey Key { get; init; }

    /// <summary>Its file format, which picks the engine.</summary>
    public required ModelFormat Format { get; init; }

    /// <summary>The engine's own settings (a scheduler configuration, an LLM spec); a change reloads the model.</summary>
    public object? Settings { get; init; }

    /// <summary>Unload after this long without requests (zero: stay loaded).</summary>
    public TimeSpan KeepAlive { get; init; }

    /// <summary>Never evicted for memory nor unloaded when idle (loaded at start).</summary>
    public bool Pinned { get; init; }

    /// <summary>The size of the model file in bytes (0 when unknown), the base of the memory estimate.</summary>
    public long ArtifactBytes { get; init; }
}
