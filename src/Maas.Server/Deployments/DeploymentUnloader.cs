using Maas.Core.Deployments;
using Maas.Core.Hosting;
using Maas.Core.Registry;

namespace Maas.Server.Deployments;

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

            // A change may have given it traffic again meanwhile (warmed while it was still loaded): unloaded now, it
            // would take those calls cold, each waiting for a load the change's warm-up was there to spare them.
            if (router.Current.TryGetValue(model, out var now) && DeploymentRules.LiveVersions(now).Contains(version))
            {
                logger.LogInformation("{Model} version {Version} takes traffic again; it stays loaded", model, version);
                return;
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
