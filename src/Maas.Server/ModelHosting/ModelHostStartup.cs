using Maas.Core.Hosting;
using Maas.Core.Registry;
using Maas.Server.Health;

namespace Maas.Server.ModelHosting;

/// <summary>
/// The model host's start-up and upkeep for every engine: loads the versions configured to load at start or pinned
/// (in the background; readiness waits for them), reloads loaded versions whose serving configuration changed, loads
/// versions pinned since,
/// unloads deleted ones (those deleted through another server sharing the database too, found by
/// <see cref="ModelHostingOptions.DeletedModelCheckMs"/>), logs state changes, and unloads everything (draining
/// requests) when the server stops.
/// </summary>
internal sealed class ModelHostStartup(
    ModelHost host,
    IEnumerable<IHostedModelSource> sources,
    ILogger<ModelHostStartup> logger,
    MustLoadModels? mustLoad = null,
    IModelRegistry? registry = null,
    Microsoft.Extensions.Options.IOptions<ModelHostingOptions>? options = null) : IHostedService
{
    private readonly CancellationTokenSource _stopping = new();

    // Models whose serving configuration is being applied, each with whether it changed again meanwhile.
    private readonly Dictionary<string, bool> _refreshing = new(StringComparer.Ordinal);

    /// <inheritdoc />
    public Task StartAsync(CancellationToken cancellationToken)
    {
        host.StateChanged += OnStateChanged;
        host.SweepFailed += OnSweepFailed;
        if (registry is null)
        {
            return Task.CompletedTask; // a host without the registry serves nothing
        }

        registry.Changed += OnRegistryChanged;
        foreach (var source in sources)
        {
            // Registered now, before the listener opens, so readiness waits for the list.
            var readiness = mustLoad?.Begin(source.Name);
            _ = Task.Run(() => LoadAtStartAsync(source, readiness, _stopping.Token), CancellationToken.None);
        }

        if (options?.Value.DeletedModelCheckMs is > 0 and var interval)
        {
            _ = Task.Run(() => CheckDeletedAsync(registry, TimeSpan.FromMilliseconds(interval), _stopping.Token), CancellationToken.None);
        }

        return Task.CompletedTask;
    }

    /// <inheritdoc />
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (registry is not null)
        {
            registry.Changed -= OnRegistryChanged;
        }

        await _stopping.CancelAsync();
        try
        {
            // Unloads every model once the requests holding it are done, within the shutdown's time.
            await host.DisposeAsync().AsTask().WaitAsync(cancellationToken);
        }
        catch (OperationCanceledException)
        {
            logger.LogWarning("Stopped before every model had unloaded (requests still held them)");
        }

        host.StateChanged -= OnStateChanged;
        host.SweepFailed -= OnSweepFailed;
    }

    private async Task LoadAtStartAsync(IHostedModelSource source, MustLoadModels.Loader? readiness, CancellationToken cancellationToken)
    {
        try
        {
            var requests = await source.LoadAtStartAsync(cancellationToken);
            var byName = requests.ToDictionary(r => r.Key.ToString());
            readiness?.Expect(byName.Keys, name => host.Status(byName[name].Key)?.State == ModelState.Ready);
            foreach (var request in requests)
            {
                var state = await host.LoadAsync(request, cancellationToken);
                if (state.State == ModelState.Ready)
                {
                    readiness?.Loaded(request.Key.ToString());
                }
                else
                {
                    logger.LogWarning("Model {Model} is configured to load at start but did not: {Reason}", request.Key, state.Reason);
                    readiness?.Failed(request.Key.ToString(), state.Reason);
                }
            }
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            if (ex is not OperationCanceledException)
            {
                logger.LogError(ex, "Loading the {Source} models configured to load at start failed", source.Name);
            }

            readiness?.ListingFailed(ex.Message);
        }
    }

    private void OnRegistryChanged(object? sender, RegistryChange change)
    {
        if (change.Kind == RegistryChangeKind.ModelChanged)
        {
            // A changed serving configuration applies to loaded versions at once (reloaded, then swapped in).
            ScheduleRefresh(change.Model);
        }
        else if (change.Kind is RegistryChangeKind.VersionDeleted or RegistryChangeKind.ModelDeleted)
        {
            var version = change.Kind == RegistryChangeKind.VersionDeleted ? change.Version : null;
            _ = Task.Run(async () =>
            {
                try
                {
                    await host.ForgetAsync(change.Model, version);
                }
                catch (Exception ex) when (ex is not OutOfMemoryException)
                {
                    logger.LogWarning(ex, "Unloading deleted model {Model} failed", change.Model);
                }
            });
        }
    }

    // A deletion made through another server sharing the database raises no change here: every interval the versions
    // the host knows (loaded, failed or held unloaded) are looked up, and those gone (or loaded from other files than the
    // version of that number now has) are reported as deleted, so every
    // part of this server drops them as it does for a deletion made here (the host its entry and loaded instance, the
    // tensor manager its statistics and unload, the model directory its cache); models changed there are refreshed.
    private async Task CheckDeletedAsync(IModelRegistry models, TimeSpan interval, CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(interval);
        var updatedAt = new Dictionary<string, DateTimeOffset>(StringComparer.Ordinal); // as last seen, per model known
        try
        {
            while (await timer.WaitForNextTickAsync(cancellationToken))
            {
                var seen = new Dictionary<string, DateTimeOffset>(StringComparer.Ordinal);
                foreach (var byName in host.Models().GroupBy(s => s.Key.Name, StringComparer.Ordinal))
                {
                    try
                    {
                        Dictionary<int, string> versions;
                        try
                        {
                            versions = (await models.ListVersionsAsync(byName.Key, cancellationToken)).ToDictionary(v => v.Version, v => v.ArtifactKey);
                        }
                        catch (RegistryException ex) when (ex.Kind == RegistryErrorKind.NotFound)
                        {
                            logger.LogInformation("Model {Model} was deleted through another server; unloading it here", byName.Key);
                            models.ReportDeletedElsewhere(byName.Key, null);
                            continue;
                        }

                        foreach (var gone in byName.Select(s => s.Key.Version).Where(v => !versions.ContainsKey(v)).Distinct())
                        {
                            logger.LogInformation("Version {Version} of model {Model} was deleted through another server; unloading it here", gone, byName.Key);
                            models.ReportDeletedElsewhere(byName.Key, gone);
                        }

                        // The model deleted and made again through another server: its new versions count from 1 again,
                        // so a number that exists may name other files than the ones loaded here.
                        foreach (var stale in byName.Where(s => s.ArtifactKey.Length > 0 && versions.TryGetValue(s.Key.Version, out var key) && key != s.ArtifactKey))
                        {
                            logger.LogInformation("Version {Version} of model {Model} was replaced through another server (other files); unloading the old one here",
                                stale.Key.Version, byName.Key);
                            models.ReportDeletedElsewhere(byName.Key, stale.Key.Version);
                        }

                        await CheckChangedAsync(models, byName.Key, byName.Max(s => s.LoadedAt), updatedAt, seen, cancellationToken);
                    }
                    catch (Exception ex) when (ex is not OutOfMemoryException and not OperationCanceledException)
                    {
                        logger.LogWarning("Checking whether model {Model} still exists failed ({Message}); the next check tries again", byName.Key, ex.Message);
                    }
                }

                updatedAt = seen; // models no longer known here are forgotten
            }
        }
        catch (OperationCanceledException)
        {
            // Stopping.
        }
    }

    // A model changed through another server (its serving configuration, say) raises no change here either: when its
    // update time moved since the last check, or is after the latest load here when first seen, the change is raised
    // here, and the refresh it starts reloads loaded versions whose settings differ (none when they do not).
    private async Task CheckChangedAsync(
        IModelRegistry models,
        string model,
        DateTimeOffset? loadedAt,
        Dictionary<string, DateTimeOffset> updatedAt,
        Dictionary<string, DateTimeOffset> seen,
        CancellationToken cancellationToken)
    {
        var updated = (await models.GetModelAsync(model, cancellationToken)).UpdatedAt;
        seen[model] = updated;
        if (updatedAt.TryGetValue(model, out var before) ? before != updated : loadedAt is { } at && updated > at)
        {
            logger.LogInformation("Model {Model} was changed through another server; applying its serving configuration here", model);
            models.ReportChangedElsewhere(model);
        }
    }

    // One refresh of a model at a time, and one more after the last change: two refreshes side by side each read the
    // configuration and reloaded from the same loaded instance, so the one that read the older configuration could
    // finish last (or be the one kept), and the version served settings its model no longer had.
    private void ScheduleRefresh(string model)
    {
        lock (_refreshing)
        {
            if (_refreshing.ContainsKey(model))
            {
                _refreshing[model] = true;
                return;
            }

            _refreshing[model] = false;
        }

        _ = Task.Run(async () =>
        {
            while (true)
            {
                await RefreshAsync(model);
                lock (_refreshing)
                {
                    if (!_refreshing[model])
                    {
                        _refreshing.Remove(model);
                        return;
                    }

                    _refreshing[model] = false;
                }
            }
        });
    }

    private async Task RefreshAsync(string model)
    {
        try
        {
            foreach (var loaded in host.Models().Where(s => s.Key.Name == model && s.State == ModelState.Ready))
            {
                foreach (var source in sources)
                {
                    if (await source.RefreshRequestAsync(loaded, _stopping.Token) is { } request
                        && await host.RefreshAsync(request, _stopping.Token))
                    {
                        logger.LogInformation("Model {Model} reloaded with its new serving configuration", loaded.Key);
                    }
                }
            }

            // A version pinned just now loads at once, as it would at start (unless an operator unloaded it).
            foreach (var source in sources)
            {
                foreach (var request in (await source.LoadAtStartAsync(_stopping.Token)).Where(r => r.Key.Name == model && r.Pinned))
                {
                    if (host.Status(request.Key) is not { Reason: ModelHost.UnloadedReason } and not { State: ModelState.Ready or ModelState.Loading })
                    {
                        var state = await host.LoadAsync(request, _stopping.Token);
                        logger.LogInformation("Pinned model {Model}: {State} {Reason}", request.Key, state.State.ToProtocolName(), state.Reason);
                    }
                }
            }
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            if (ex is not OperationCanceledException)
            {
                logger.LogWarning(ex, "Applying the new serving configuration of {Model} failed", model);
            }
        }
    }

    private void OnStateChanged(HostedModelStatus s)
    {
        if (s.State == ModelState.Ready)
        {
            logger.LogInformation("Model {Model} loaded on {Engine} ({Bytes} bytes accounted)", s.Key, s.Engine, s.Memory?.AccountedBytes);
        }
        else
        {
            logger.LogInformation("Model {Model} on {Engine}: {State} {Reason}", s.Key, s.Engine, s.State.ToProtocolName(), s.Reason);
        }
    }

    private void OnSweepFailed(Exception ex) => logger.LogWarning(ex, "Unloading idle models failed");
}
