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
    IHostApplicationLifetime lifetime,
    ModelManager manager,
    IOptions<InferenceOptions> options,
    ILogger<InferenceStartup> logger) : IHostedService
{
    private readonly CancellationTokenSource _stopping = new();
    private IModelRegistry? _registry;
    private Timer? _idleTimer;

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
                if (await DemoModel.SeedAsync(registry, services.GetRequiredService<IOptions<Maas.Server.Hosting.MaasOptions>>().Value.DataDir, cancellationToken))
                {
                    // Say how to call it once the listener is up and its real address is known.
                    lifetime.ApplicationStarted.Register(() =>
                    {
                        logger.LogInformation(
                            "First start: registered the demo model '{Model}'. Try: curl -s {Authorization} -X POST {Address}/v2/models/{Model}/infer " +
                            "-d '{{\"inputs\":[{{\"name\":\"input\",\"shape\":[1,4],\"datatype\":\"FP32\",\"data\":[5.1,3.5,1.4,0.2]}}]}}'",
                            DemoModel.Name, Maas.Server.Hosting.FirstCallHint.AuthorizationHeader(services), Maas.Server.Hosting.FirstCallHint.Address(services), DemoModel.Name);
                    });
                }
            }
            catch (RegistryException ex) when (ex.Kind == RegistryErrorKind.Conflict)
            {
                // Another node seeded it first.
            }
        }

        // Readiness waits for the load-at-start versions (registered now, before the listener opens).
        var readiness = services.GetService<Maas.Server.Health.MustLoadModels>()?.Begin("onnx");
        StartupLoads = Task.Run(() => LoadAtStartAsync(readiness, _stopping.Token), CancellationToken.None);

        // Versions with a keep-alive unload after that long without requests (they load again on the next one).
        _idleTimer = new Timer(_ => _ = UnloadIdleAsync(), null, IdleCheckPeriod, IdleCheckPeriod);
    }

    private static readonly TimeSpan IdleCheckPeriod = TimeSpan.FromSeconds(5);

    private async Task UnloadIdleAsync()
    {
        try
        {
            foreach (var s in await manager.UnloadIdleAsync())
            {
                logger.LogInformation("Model {Model} version {Version} unloaded after its keep-alive without requests", s.Name, s.Version);
            }
        }
        catch (Exception ex)
        {
            logger.LogWarning(ex, "Unloading idle models failed");
        }
    }

    private async Task LoadAtStartAsync(Maas.Server.Health.MustLoadModels.Loader? readiness, CancellationToken cancellationToken)
    {
        try
        {
            var all = await services.GetRequiredService<IServableModelCatalog>().ListAsync(cancellationToken);
            var mustLoad = all.Where(m => m.LoadAtStart).ToDictionary(m => $"'{m.Name}' version {m.Version}");
            readiness?.Expect(mustLoad.Keys, key => manager.State(mustLoad[key].Name, mustLoad[key].Version).State == "READY");
            foreach (var (key, m) in mustLoad)
            {
                var state = await manager.LoadAsync(m.Name, m.Version.ToString(System.Globalization.CultureInfo.InvariantCulture), cancellationToken);
                if (state.State == "READY")
                {
                    readiness?.Loaded(key);
                }
                else
                {
                    logger.LogWarning("Model {Model} version {Version} is configured to load at start but did not: {Reason}", state.Name, state.Version, state.Reason);
                    readiness?.Failed(key, state.Reason);
                }
            }
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            logger.LogError(ex, "Loading the models configured to load at start failed");
            readiness?.ListingFailed(ex.Message);
        }
    }

    private void OnRegistryChanged(object? sender, RegistryChange change)
    {
        manager.InvalidateResolutions();
        if (change.Kind == RegistryChangeKind.ModelChanged)
        {
            // A changed serving configuration applies to loaded versions at once (reloaded, then swapped in).
            _ = Task.Run(async () =>
            {
                try
                {
                    await manager.RefreshAsync(change.Model, _stopping.Token);
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    logger.LogWarning(ex, "Applying the new serving configuration of {Model} failed", change.Model);
                }
            });
        }

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
        if (_idleTimer is not null)
        {
            await _idleTimer.DisposeAsync();
        }

        await manager.DisposeAsync();
    }
}
