using Maas.Core.Jobs;
using Maas.Core.Registry;
using Maas.Storage.Sql;

namespace Maas.Server.Registry;

/// <summary>
/// Brings the registry up before anything uses it: schema migrations, then crash recovery (unfinished versions,
/// staged leftovers, orphan artifacts, interrupted jobs); later, expires idle upload sessions; at shutdown, stops jobs.
/// </summary>
internal sealed class RegistryStartup(
    SqlRegistryStore store,
    ModelRegistry registry,
    JobRunner jobs,
    Microsoft.Extensions.Options.IOptions<RegistryOptions> options,
    ILogger<RegistryStartup> logger,
    Maas.Core.Datasets.DatasetCatalog? datasets = null) : IHostedService
{
    private readonly TimeSpan _sessionSweepInterval = TimeSpan.FromMilliseconds(options.Value.UploadSessionSweepMs);

    private readonly TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly CancellationTokenSource _stopping = new();
    private Task _sweeper = Task.CompletedTask;

    /// <summary>Completes when the registry can serve; faults when it cannot.</summary>
    public Task Ready => _ready.Task;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        try
        {
            await store.MigrateAsync(cancellationToken);
            if (options.Value.CleanOrphansOnStart)
            {
                var report = await registry.RecoverAsync(cancellationToken);
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

            var interrupted = await jobs.RecoverAsync(cancellationToken);
            if (interrupted > 0)
            {
                logger.LogWarning("{Count} job(s) were interrupted by the previous shutdown and are marked failed", interrupted);
            }

            logger.LogInformation(
                "Registry ready: {Provider} database, {Store} artifact store, uploads up to {Limit} bytes",
                store.Dialect.Provider,
                registry.Artifacts.Kind,
                options.Value.MaxUploadBytes);
            _ready.TrySetResult();
            _sweeper = Task.Run(() => SweepSessionsAsync(_stopping.Token), CancellationToken.None);
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
                    var expired = await registry.ExpireSessionsAsync(cancellationToken);
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
        await jobs.DisposeAsync();
        _stopping.Dispose();
    }
}
