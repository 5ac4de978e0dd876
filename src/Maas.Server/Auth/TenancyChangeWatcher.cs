using Maas.Core.Tenancy;
using Microsoft.Extensions.Options;

namespace Maas.Server.Auth;

/// <summary>
/// Polls the database's key-and-tenant change counter; when another node revoked a key or changed limits, drops
/// this node's key cache, so the change applies here within Maas:Auth:ChangePollMs.
/// </summary>
public sealed class TenancyChangeWatcher(
    ITenancyStore store,
    ApiKeyAuthenticator keys,
    TenancyReadiness readiness,
    IOptions<AuthOptions> options,
    ILogger<TenancyChangeWatcher> logger) : BackgroundService
{
    private long _seen = -1;

    /// <summary>The change counter as this node last read it (-1 before its first check): its key cache has dropped every change up to it.</summary>
    public long SeenEpoch => Interlocked.Read(ref _seen);

    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var interval = options.Value.ChangePollMs;
        if (interval <= 0)
        {
            return;
        }

        try
        {
            await readiness.Ready.WaitAsync(stoppingToken);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            return; // start-up failed and said so
        }

        using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(interval));
        try
        {
            do
            {
                try
                {
                    var epoch = await store.GetEpochAsync(stoppingToken);
                    if (_seen >= 0 && epoch != _seen)
                    {
                        keys.Invalidate();
                    }

                    Interlocked.Exchange(ref _seen, epoch);
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    logger.LogWarning("Checking for key changes failed ({Message}); cached keys stay until the next check", e.Message);
                }
            }
            while (await timer.WaitForNextTickAsync(stoppingToken));
        }
        catch (OperationCanceledException)
        {
            // Stopping.
        }
    }
}
