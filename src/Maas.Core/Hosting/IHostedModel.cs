namespace Maas.Core.Hosting;

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
