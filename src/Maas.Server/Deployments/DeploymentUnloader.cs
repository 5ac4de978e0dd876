using Maas.Core.Deployments;
using Maas.Core.Hosting;
using Maas.Core.Registry;

namespace Maas.Server.Deployments;

/// <summary>
/// The hot swap's second half, on every server: once a version has lost all traffic and is no shadow, it unloads
/// after its running requests finish (a straggler still naming it loads it again: nothing fails). Pinned models stay,
/// and so does a version a change of this server is warming and has not stored yet (<see cref="WarmingVersions"/>).
/// Also unloads what a failed change loaded for its warm-up only (<see cref="UnloadWarmedAsync"/>). Without a
/// <see cref="ModelHost"/> (no model hosting) nothing is unloaded; without a registry no model counts as pinned.
/// </summary>
public sealed class DeploymentUnloader(DeploymentRouter router, WarmingVersions warming, ILogger<DeploymentUnloader> logger, ModelHost? host = null,
    IModelRegistry? registry = null) : IHostedService
{
    /// <inheritdoc />
    public Task StartAsync(CancellationToken cancellationToken)
    {
        router.Changed += OnChanged;
        return Task.CompletedTask;
    }

    /// <inheritdoc />
    public Task StopAsync(CancellationToken cancellationToken)
    {
        router.Changed -= OnChanged;
        return Task.CompletedTask;
    }

    /// <summary>
    /// After a change failed (its warm-up, or its save), unloads the versions it loaded for its warm-up and nothing
    /// else had loaded: versions that were serving before stay, and so do versions that take traffic now or that another
    /// change is warming. A loaded version is taken off before this returns; one still loading (a warm-up that ran
    /// out of time) is decided again when its load ends: unloaded unless a change claimed it or gave it traffic meanwhile.
    /// </summary>
    public async Task UnloadWarmedAsync(string model, IReadOnlyList<int> versions)
    {
        try
        {
            if (versions.Count == 0 || await PinnedAsync(model))
            {
                return;
            }

            foreach (var version in versions)
            {
                if (StartUnload(model, version, keepLoading: false) is { } unload)
                {
                    logger.LogInformation("{Model} version {Version} was loaded for a deployment change that failed; unloading it", model, version);
                    _ = WatchAsync(unload, model, version);
                }
            }
        }
        catch (Exception e)
        {
            // The change's own failure is what its caller hears about.
            logger.LogWarning("Unloading what a failed change of {Model} loaded failed: {Message}", model, e.Message);
        }
    }

    private void OnChanged(IReadOnlyDictionary<string, Deployment> old, IReadOnlyDictionary<string, Deployment> fresh)
    {
        foreach (var (model, before) in old)
        {
            var after = fresh.GetValueOrDefault(model);
            if (after is null || after.StepStartedAt != before.StepStartedAt)
            {
                router.Metrics.Forget(model, after?.StepStartedAt);
            }

            if (after is null)
            {
                continue; // without a deployment every version may be named again: leave them to keep-alive
            }

            var live = DeploymentRules.LiveVersions(after).ToHashSet();
            foreach (var version in DeploymentRules.LiveVersions(before).Where(v => !live.Contains(v)))
            {
                _ = UnloadAsync(model, version);
            }
        }
    }

    private async Task UnloadAsync(string model, int version)
    {
        try
        {
            if (await PinnedAsync(model))
            {
                return;
            }

            // Calls this server already sent to the version finish first: unloading under them would fail them.
            if (!await router.WaitForRoutedCallsAsync(model, version, TimeSpan.FromMinutes(5), CancellationToken.None))
            {
                logger.LogWarning("{Model} version {Version} still has calls after 5 minutes; unloading it anyway (they drain first)", model, version);
            }

            if (StartUnload(model, version, keepLoading: true) is { } unload)
            {
                await unload;
            }
        }
        catch (Exception e)
        {
            logger.LogWarning("Unloading {Model} version {Version} after a deployment change failed: {Message}", model, version, e.Message);
        }
    }

    // Begins the version's unload (its synchronous part: a loaded version stops taking calls at once) unless it takes
    // traffic again or a change is warming it; both are decided under WarmingVersions' gate, which a change passes
    // before its warm-up, so a change either finds the unload begun (and loads the version again) or keeps it.
    private Task? StartUnload(string model, int version, bool keepLoading)
    {
        var unload = warming.UnloadUnlessWarming(new ModelKey(model, version), () => UnloadUnlessLive(model, version, keepLoading), out var claimed);
        if (claimed)
        {
            // Said from what the gate saw: the change's claim may have ended since, its version kept all the same.
            logger.LogInformation("{Model} version {Version} is being warmed by a deployment change; it stays loaded", model, version);
        }

        return unload;
    }

    // Under WarmingVersions' gate, no change claiming the version.
    private Task? UnloadUnlessLive(string model, int version, bool keepLoading)
    {
        // A change may have given it traffic again meanwhile (warmed while it was still loaded): unloaded now, it
        // would take those calls cold, each waiting for a load the change's warm-up was there to spare them.
        if (router.Current.TryGetValue(model, out var now) && DeploymentRules.LiveVersions(now).Contains(version))
        {
            logger.LogInformation("{Model} version {Version} takes traffic again; it stays loaded", model, version);
            return null;
        }

        if (host is null)
        {
            return null;
        }

        if (host.Status(new ModelKey(model, version))?.State == ModelState.Loading)
        {
            // A load some call started (naming the version) would be waited for and then undone, and a change that
            // claims the version meanwhile would find it loaded, then lose it: left to keep-alive instead.
            if (keepLoading)
            {
                logger.LogInformation("{Model} version {Version} is being loaded; it is left to its keep-alive", model, version);
                return null;
            }

            // A failed change's own load (a warm-up that ran out of time). The host's unload would wait for the load
            // outside this gate and then take off whatever it loaded, even after a change claimed the version and
            // joined that load for its warm-up: that change's calls would find the version gone. So the load ends
            // first, and the decision is taken again then, under the gate.
            return AfterLoadAsync(host, model, version);
        }

        return host.UnloadAsync(new ModelKey(model, version), hold: false);
    }

    private async Task AfterLoadAsync(ModelHost loading, string model, int version)
    {
        await Task.Yield(); // out of the gate: the decision below passes it again
        await LoadEndedAsync(loading, new ModelKey(model, version));
        if (StartUnload(model, version, keepLoading: true) is { } unload)
        {
            await unload;
        }
    }

    // Completes once the version's load has ended (ready or failed), without starting or joining one.
    private static async Task LoadEndedAsync(ModelHost loading, ModelKey key)
    {
        var ended = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        void OnStateChanged(HostedModelStatus status)
        {
            if (status.Key == key && status.State != ModelState.Loading)
            {
                ended.TrySetResult();
            }
        }

        loading.StateChanged += OnStateChanged;
        try
        {
            // Subscribed first: a load that ends after this read is seen by the handler.
            if (loading.Status(key)?.State == ModelState.Loading)
            {
                await ended.Task;
            }
        }
        finally
        {
            loading.StateChanged -= OnStateChanged;
        }
    }

    private async Task<bool> PinnedAsync(string model) =>
        registry is not null && (await registry.GetModelAsync(model, CancellationToken.None)).ServingConfig.Pinned == true;

    private async Task WatchAsync(Task unload, string model, int version)
    {
        try
        {
            await unload;
        }
        catch (Exception e)
        {
            logger.LogWarning("Unloading {Model} version {Version} after a failed deployment change failed: {Message}", model, version, e.Message);
        }
    }
}
