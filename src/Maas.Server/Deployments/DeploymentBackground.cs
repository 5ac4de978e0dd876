using Maas.Core.Deployments;
using Maas.Core.Hosting;
using Maas.Core.Registry;
using Maas.Server.Registry;
using Microsoft.Extensions.Options;

namespace Maas.Server.Deployments;

/// <summary>Keeps this server's copy of every deployment current: polls the database's change counter (other servers' changes).</summary>
internal sealed class DeploymentSync(DeploymentRouter router, RegistryStartup registry, TimeProvider time, IOptions<DeploymentOptions> options, ILogger<DeploymentSync> logger) : BackgroundService
{
    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            await registry.Ready.WaitAsync(stoppingToken);
            using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(options.Value.RefreshMs), time);
            do
            {
                try
                {
                    await router.RefreshAsync(force: false, stoppingToken);
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    logger.LogWarning("Reading deployments failed (retrying): {Message}", e.Message);
                }
            }
            while (await timer.WaitForNextTickAsync(stoppingToken));
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Stopping.
        }
    }
}

/// <summary>
/// The analysis loop: at every tick judges each active rollout's current step from this server's metrics of the
/// canary, and advances, promotes or rolls it back (<see cref="RolloutAnalysis"/>).
/// </summary>
public sealed class DeploymentAnalysis(DeploymentRouter router, DeploymentService deployments, TimeProvider time, IOptions<DeploymentOptions> options, ILogger<DeploymentAnalysis> logger) : BackgroundService
{
    /// <summary>Judges every rollout once (the loop's body).</summary>
    public async Task TickAsync(CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        foreach (var deployment in router.Current.Values)
        {
            if (deployment is not { State: DeploymentState.Active, Plan: not null, Canary: { } canary })
            {
                continue;
            }

            var window = router.Metrics.Window(deployment.Model, deployment.StepStartedAt, canary);
            var (decision, reason) = RolloutAnalysis.Judge(deployment, window, now);
            if (decision != RolloutDecision.Hold)
            {
                await deployments.ApplyAsync(deployment, decision, reason!, cancellationToken);
            }
        }
    }

    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(options.Value.AnalysisIntervalMs), time);
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                try
                {
                    await TickAsync(stoppingToken);
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    logger.LogWarning("Deployment analysis failed (retrying at the next tick): {Message}", e.Message);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Stopping.
        }
    }
}

/// <summary>
/// The hot swap's second half, on every server: once a version has lost all traffic and is no shadow, it unloads
/// after its running requests finish (a straggler still naming it loads it again: nothing fails). Pinned models stay.
/// </summary>
public sealed class DeploymentUnloader(DeploymentRouter router, IServiceProvider services, ILogger<DeploymentUnloader> logger) : IHostedService
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
            var registry = services.GetService<IModelRegistry>();
            if (registry is not null && (await registry.GetModelAsync(model, CancellationToken.None)).ServingConfig.Pinned == true)
            {
                return;
            }

            // Calls this server already sent to the version finish first: unloading under them would fail them.
            if (!await router.WaitForRoutedCallsAsync(model, version, TimeSpan.FromMinutes(5), CancellationToken.None))
            {
                logger.LogWarning("{Model} version {Version} still has calls after 5 minutes; unloading it anyway (they drain first)", model, version);
            }

            if (services.GetService<ModelHost>() is { } host)
            {
                await host.UnloadAsync(new ModelKey(model, version), hold: false);
            }
        }
        catch (Exception e)
        {
            logger.LogWarning("Unloading {Model} version {Version} after a deployment change failed: {Message}", model, version, e.Message);
        }
    }
}
