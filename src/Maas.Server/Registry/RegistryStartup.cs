using Maas.Core.Instances;
using Maas.Core.Jobs;
using Maas.Core.Registry;
using Maas.Storage.Sql;

namespace Maas.Server.Registry;

/// <summary>
/// Brings the registry up before anything uses it: schema migrations, this server's instance registered (its
/// heartbeat), then crash recovery of what instances whose heartbeat lapsed left (unfinished versions, staged
/// leftovers, orphan artifacts, interrupted jobs); later, expires idle upload sessions and, every lapse, recovers the
/// work of instances that died meanwhile; at shutdown, stops jobs and removes the instance.
/// </summary>
internal sealed class RegistryStartup(
    SqlRegistryStore store,
    ModelRegistry registry,
    ModelUploads uploads,
    JobRunner jobs,
    InstanceHeartbeat instance,
    Microsoft.Extensions.Options.IOptions<RegistryOptions> options,
    ILogger<RegistryStartup> logger,
    Maas.Core.Datasets.DatasetCatalog? datasets = null) : IHostedService
{
    private readonly TimeSpan _sessionSweepInterval = TimeSpan.FromMilliseconds(options.Value.UploadSessionSweepMs);

    private readonly TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly CancellationTokenSource _stopping = new();
    private Task _sweeper = Task.CompletedTask;
    private Task _recoverer = Task.CompletedTask;

    /// <summary>Completes when the registry can serve; faults when it cannot.</summary>
    public Task Ready => _ready.Task;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        try
        {
            await store.MigrateAsync(cancellationToken);
            await instance.StartAsync(cancellationToken);
            if (options.Value.CleanOrphansOnStart)
            {
                var report = await registry.RecoverAsync(instance, cancellationToken);
                if (report != new RecoveryReport(0, 0, 0, 0, 0))
                {
                    logger.LogWarning(
                        "Registry recovery removed {Versions} unfinished version(s), {Sessions} expired upload session(s), {Staged} staged leftover(s), " +
                        "{Temporary} half-committed artifact(s) and {Orphans} artifact(s) no version uses",
                        report.UnfinishedVersions,
                        report.ExpiredSessions,
                        report.StagedLeftovers,
                        report.TemporaryArtifacts,
                        report.OrphanArtifacts);
                }
            }

            var interrupted = await jobs.RecoverAsync(instance.LapsedBefore, cancellationToken);
            if (interrupted > 0)
            {
                logger.LogWarning("{Count} job(s) were interrupted by the previous shutdown and are marked failed", interrupted);
            }

            await instance.RemoveLapsedAsync(cancellationToken);

            logger.LogInformation(
                "Registry ready: {Provider} database, {Store} artifact store, uploads up to {Limit} bytes",
                store.Dialect.Provider,
                registry.Artifacts.Kind,
                options.Value.MaxUploadBytes);
            _ready.TrySetResult();
            _sweeper = Task.Run(() => SweepSessionsAsync(_stopping.Token), CancellationToken.None);
            _recoverer = Task.Run(() => RecoverLapsedAsync(_stopping.Token), CancellationToken.None);
        }
        catch (Exception e)
        {
            _ready.TrySetException(e);
            throw;
        }
    }

    private async Task SweepSessionsAsync(CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(_sessionSweepInterval);
        try
        {
            while (await timer.WaitForNextTickAsync(cancellationToken))
            {
                try
                {
                    // Models' and datasets' sessions alike: an abandoned dataset upload kept its bytes (and its
                    // tenant's storage reservation) until someone next opened a dataset upload.
                    var expired = await uploads.ExpireAsync(cancellationToken);
                    if (datasets is not null)
                    {
                        expired += await datasets.ExpireUploadsAsync(cancellationToken);
                    }

                    if (expired > 0)
                    {
                        logger.LogInformation("Removed {Count} expired upload session(s)", expired);
                    }
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    logger.LogWarning(e, "Expiring upload sessions failed; trying again in {Interval}", _sessionSweepInterval);
                }
            }
        }
        catch (OperationCanceledException)
        {
            // Stopping.
        }
    }

    // Every lapse: the work of servers and workers that died while this one runs (their uploading versions, their
    // imports), then their rows. Cheap: a few statements, nothing listed from the artifact store.
    private async Task RecoverLapsedAsync(CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(instance.Options.Lapse, instance.Time);
        try
        {
            while (await timer.WaitForNextTickAsync(cancellationToken))
            {
                try
                {
                    var report = options.Value.CleanOrphansOnStart ? await registry.RecoverLapsedAsync(instance, cancellationToken) : new RecoveryReport(0, 0, 0, 0, 0);
                    var interrupted = await jobs.RecoverAsync(instance.LapsedBefore, cancellationToken);
                    var gone = await instance.RemoveLapsedAsync(cancellationToken);
                    if (report != new RecoveryReport(0, 0, 0, 0, 0) || interrupted + gone > 0)
                    {
                        logger.LogWarning(
                            "{Instances} instance(s) stopped renewing their heartbeat: removed {Versions} unfinished version(s), {Artifacts} artifact(s) " +
                            "and {Staged} staged draft(s) of theirs, and failed {Jobs} job(s) of theirs",
                            gone,
                            report.UnfinishedVersions,
                            report.OrphanArtifacts,
                            report.StagedLeftovers,
                            interrupted);
                    }
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    logger.LogWarning(e, "Recovering the work of lapsed instances failed; trying again in {Interval}", instance.Options.Lapse);
                }
            }
        }
        catch (OperationCanceledException)
        {
            // Stopping.
        }
    }

    private int _stopped;

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        // A host may be stopped twice (an explicit stop, then dispose); the second time there is nothing left to do.
        if (Interlocked.Exchange(ref _stopped, 1) == 1)
        {
            return;
        }

        await _stopping.CancelAsync();
        await _sweeper;
        await _recoverer;
        await jobs.DisposeAsync();
        await instance.StopAsync();
        _stopping.Dispose();
    }
}
