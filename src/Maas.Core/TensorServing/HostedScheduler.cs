using Maas.Core.Hosting;

namespace Maas.Core.TensorServing;

/// <summary>A loaded tensor model: its scheduler (which owns the backend); unloading drains the scheduler's queue.</summary>
public sealed class HostedScheduler(ModelScheduler scheduler, string artifactPath) : IHostedModel
{
    /// <summary>The dynamic batcher in front of the backend.</summary>
    public ModelScheduler Scheduler { get; } = scheduler;

    /// <inheritdoc />
    public string ArtifactPath { get; } = artifactPath;

    /// <inheritdoc />
    public long EngineMemoryBytes => 0;

    /// <inheritdoc />
    public int InstanceCount => Scheduler.InstanceCount;

    /// <inheritdoc />
    public ValueTask DisposeAsync() => Scheduler.DisposeAsync();
}
