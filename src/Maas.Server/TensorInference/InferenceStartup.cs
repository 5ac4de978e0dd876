using Maas.Core.Registry;
using Maas.Core.TensorServing;
using Maas.Server.TensorInference.Demo;
using Microsoft.Extensions.Options;

namespace Maas.Server.TensorInference;

/// <summary>
/// Serving's start-up: seeds the demo model on a first start and keeps the model manager's name resolutions and
/// statistics in step with registry changes. Loading at start, reloads and unloads are the model host's
/// (ModelHosting/ModelHostStartup).
/// </summary>
internal sealed class InferenceStartup(
    IModelRegistry registry,
    Maas.Server.Hosting.FirstCallHint hint,
    IHostApplicationLifetime lifetime,
    ModelManager manager,
    IOptions<InferenceOptions> options,
    IOptions<Maas.Server.Hosting.MaasOptions> maas,
    ILogger<InferenceStartup> logger) : IHostedService
{
    /// <inheritdoc />
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        registry.Changed += OnRegistryChanged;
        if (options.Value.Demo)
        {
            try
            {
                if (await DemoModel.SeedAsync(registry, maas.Value.DataDir, cancellationToken))
                {
                    // Say how to call it once the listener is up and its real address is known.
                    lifetime.ApplicationStarted.Register(() =>
                    {
                        logger.LogInformation(
                            "First start: registered the demo model '{Model}'. Try: curl -s {Authorization} -X POST {Address}/v2/models/{Model}/infer " +
                            "-d '{{\"inputs\":[{{\"name\":\"input\",\"shape\":[1,4],\"datatype\":\"FP32\",\"data\":[5.1,3.5,1.4,0.2]}}]}}'",
                            DemoModel.Name, hint.AuthorizationHeader(), hint.Address(), DemoModel.Name);
                    });
                }
            }
            catch (RegistryException ex) when (ex.Kind == RegistryErrorKind.Conflict)
            {
                // Another node seeded it first.
            }
        }
    }

    private void OnRegistryChanged(object? sender, RegistryChange change)
    {
        manager.InvalidateResolutions();
        if (change.Kind is RegistryChangeKind.VersionDeleted or RegistryChangeKind.ModelDeleted)
        {
            var version = change.Kind == RegistryChangeKind.VersionDeleted ? change.Version : null;
            _ = Task.Run(async () =>
            {
                try
                {
                    await manager.ForgetAsync(change.Model, version);
                }
                catch (Exception ex) when (ex is not OutOfMemoryException)
                {
                    logger.LogWarning(ex, "Unloading deleted model {Model} failed", change.Model);
                }
            });
        }
    }

    /// <inheritdoc />
    public Task StopAsync(CancellationToken cancellationToken)
    {
        registry.Changed -= OnRegistryChanged;
        return Task.CompletedTask;
    }
}
