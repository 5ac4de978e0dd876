using System.Globalization;
using Maas.Core.Formats;
using Maas.Core.Hosting;
using Maas.Core.Observability;

namespace Maas.Core.TensorServing;

/// <summary>
/// A tensor engine (ONNX Runtime) plugged into the <see cref="ModelHost"/>: loads a backend through its factory and
/// puts the dynamic batcher (<see cref="ModelScheduler"/>) in front of it.
/// </summary>
public sealed class TensorModelEngine(IModelBackendFactory factory, IServableModelCatalog catalog, ServingTelemetry? telemetry = null) : IModelEngine
{
    /// <inheritdoc />
    public string Name => factory.Engine;

    /// <inheritdoc />
    public IReadOnlyList<ModelFormat> Formats { get; } = [.. Enum.GetValues<ModelFormat>().Where(factory.CanLoad)];

    /// <inheritdoc />
    /// <remarks>Each instance is a session with its own copy of the weights.</remarks>
    public long EstimateMemoryBytes(ModelLoadRequest request) =>
        request.ArtifactBytes * Math.Max(1, Settings(request).Servable.Scheduler.InstanceCount);

    /// <inheritdoc />
    public async Task<IHostedModel> LoadAsync(ModelLoadRequest request, CancellationToken cancellationToken)
    {
        var (servable, statistics) = Settings(request);
        var options = servable.Scheduler;
        var path = await catalog.GetArtifactPathAsync(servable, cancellationToken).ConfigureAwait(false);
        var spec = new ModelLoadSpec(servable.Name, servable.Version, path, options.InstanceCount, options.ThreadsPerInstance) { Providers = options.Providers };
        // Opening a session blocks for as long as the engine takes (seconds for big models): not on a pool thread.
        var backend = await DedicatedThread.Run("maas-load", () => factory.Load(spec, cancellationToken)).ConfigureAwait(false);
        try
        {
            // Off the request path: a version's first call waits for its load anyway, its later calls read nothing more.
            await catalog.LoadedAsync(servable, path, cancellationToken).ConfigureAwait(false);
            var scheduler = new ModelScheduler(servable.Name, servable.Version.ToString(CultureInfo.InvariantCulture), backend, options, statistics, telemetry);
            return new HostedScheduler(scheduler, path);
        }
        catch
        {
            backend.Dispose();
            throw;
        }
    }

    /// <inheritdoc />
    public bool SameSettings(ModelLoadRequest loaded, ModelLoadRequest fresh)
    {
        var a = Settings(loaded).Servable.Scheduler;
        var b = Settings(fresh).Servable.Scheduler;
        return a with { PreferredBatchSizes = [], Providers = [] } == b with { PreferredBatchSizes = [], Providers = [] }
            && a.PreferredBatchSizes.SequenceEqual(b.PreferredBatchSizes)
            && a.Providers.SequenceEqual(b.Providers);
    }

    private static TensorModelSettings Settings(ModelLoadRequest request) =>
        request.Settings as TensorModelSettings ?? throw new ArgumentException("a tensor model is loaded with TensorModelSettings", nameof(request));
}
