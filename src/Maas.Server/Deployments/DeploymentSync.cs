using Maas.Server.Registry;
using Microsoft.Extensions.Options;

namespace Maas.Server.Deployments;

/// <summary>Keeps this server's copy of every deployment current: polls the database's change counter (other servers' changes).</summary>
internal sealed class DeploymentSync(DeploymentRouter router, RegistryStartup registry, TimeProvider time, IOptions<DeploymentOptions> options,
    ILogger<DeploymentSync> logger) : BackgroundService
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
