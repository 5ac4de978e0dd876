using Maas.Core.Registry;
using Maas.Core.Serving;
using Maas.Server.Inference.Demo;
using Microsoft.Extensions.Options;

namespace Maas.Server.Inference;

/// <summary>
/// Serving's start-up: seeds the demo model on a first start, keeps the model manager in step with registry changes,
/// and loads the versions configured to load at start (in the background, so probes answer meanwhile).
/// </summary>
internal sealed class InferenceStartup(
    IServiceProvider services,
    ModelManager manager,
    IOptions<InferenceOptions> options,
    ILogger<InferenceStartup> logger) : IHostedService
{
    private readonly CancellationTokenSource _stopping = new();
    private IModelRegistry? _registry;

    /// <summary>Completes when the load-at-start versions have loaded or failed.</summary>
    public Task StartupLoads { get; private set; } = Task.CompletedTask;

    /// <inheritdoc />
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        manager.StateChanged += s =>
        {
            if (s.State == "READY")
            {
                logger.LogInformation("Model {Model} version {Version} loaded", s.Name, s.Version);
            }
            else
            {
                logger.LogInformation("Model {Model} version {Version}: {State} {Reason}", s.Name, s.Version, s.State, s.Reason);
            }
        };
        _registry = services.GetService<IModelRegistry>();
        if (_registry is not { } registry)
        {
            logger.LogWarning("No model registry is registered; inference serves no models");
            return;
        }

        registry.Changed += OnRegistryChanged;
        if (options.Value.Demo)
        {
            try
            {
                if (await DemoModel.SeedAsync(registry, cancellationToken))
                {
                    logger.LogInformation(
                        "First start: registered the demo model '{Model}'. Try: curl -s -X POST http://127.0.0.1:8080/v2/models/{Model}/infer " +
                        "-d '{{\"inputs\":[{{\"name\":\"input\",\"shape\":[1,4],\"datatype\":\"FP32\",\"data\":[5.1,3.5,1.4,0.2]}}]}}'",
                        DemoModel.Name, DemoModel.Name);
                }
            }
            catch (RegistryException ex) when (ex.Kind == RegistryErrorKind.Conflict)
            {
                // Another node seeded it first.
            }
        }

        StartupLoads = Task.Run(() => LoadAtStartAsync(_stopping.Token), CancellationToken.None);
    }

    private async Task LoadAtStartAsync(CancellationToken cancellationToken)
    {
        try
        {
            foreach (var state in await manager.LoadAtStartAsync(cancellationToken))
            {
                if (state.State != "READY")
                {
                    logger.LogWarning("Model {Model} version {Version} is configured to load at start but did not: {Reason}", state.Name, state.Version, state.Reason);
                }
            }
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            logger.LogError(ex, "Loading the models configured to load at start failed");
        }
    }

    private void OnRegistryChanged(object? sender, RegistryChange change)
    {
        manager.InvalidateResolutions();
        if (change.Kind is RegistryChangeKind.VersionDeleted or RegistryChangeKind.ModelDeleted)
        {
            var version = change.Kind == RegistryChangeKind.VersionDeleted ? change.Version?.ToString(System.Globalization.CultureInfo.InvariantCulture) : null;
            _ = Task.Run(async () =>
            {
                try
                {
                    await manager.ForgetAsync(change.Model, version);
                }
                catch (Exception ex)
                {
                    logger.LogWarning(ex, "Unloading deleted model {Model} failed", change.Model);
                }
            });
        }
    }

    /// <inheritdoc />
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (_registry is not null)
        {
            _registry.Changed -= OnRegistryChanged;
        }

        await _stopping.CancelAsync();
        await manager.DisposeAsync();
    }
}
