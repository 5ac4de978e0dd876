using Maas.Core.Deployments;
using Microsoft.Extensions.Options;

namespace Maas.Server.Deployments;

/// <summary>
/// The analysis loop: at every tick judges each active rollout's current step from this server's metrics of the
/// canary, and advances, promotes or rolls it back (<see cref="RolloutAnalysis"/>).
/// </summary>
public sealed class DeploymentAnalysis(DeploymentRouter router, DeploymentService deployments, TimeProvider time, IOptions<DeploymentOptions> options,
    ILogger<DeploymentAnalysis> logger) : BackgroundService
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
