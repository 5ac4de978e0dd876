namespace Maas.Core.TensorServing;

/// <summary>What a backend needs to load one model version.</summary>
/// <param name="Name">The model name (for messages and logs).</param>
/// <param name="Version">The version.</param>
/// <param name="ArtifactPath">The model file on local disk.</param>
/// <param name="InstanceCount">How many instances (sessions) to create.</param>
/// <param name="ThreadsPerInstance">Intra-op threads per instance; 0 lets the engine choose.</param>
public sealed record ModelLoadSpec(string Name, int Version, string ArtifactPath, int InstanceCount, int ThreadsPerInstance)
{
    /// <summary>Execution providers in order of preference (<see cref="ExecutionProviders"/>); empty means CPU only.</summary>
    public IReadOnlyList<string> Providers { get; init; } = [];
}
