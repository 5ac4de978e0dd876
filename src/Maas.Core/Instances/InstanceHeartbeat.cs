using System.Security.Cryptography;

namespace Maas.Core.Instances;

/// <summary>
/// This process's liveness in the shared database: registered at start, renewed every
/// <see cref="InstanceOptions.HeartbeatMs"/> on <see cref="TimeProvider"/>, removed at a clean stop. Work this process
/// owns (uploading versions, imports, staged drafts) records <see cref="Id"/>, and recovery in any process cleans only
/// the work of instances whose heartbeat lapsed (<see cref="LapsedBefore"/>).
/// </summary>
public sealed class InstanceHeartbeat : IAsyncDisposable
{
    private readonly IInstanceStore _store;
    private readonly TimeProvider _time;
    private readonly string _kind;
    private readonly CancellationTokenSource _stopping = new();
    private Task _loop = Task.CompletedTask;
    private DateTimeOffset _startedAt;
    private int _state; // 0 new, 1 started, 2 stopped

    /// <summary>Creates the heartbeat of instance <paramref name="id"/> (<see cref="NewId"/>), a <paramref name="kind"/> ("server", "worker").</summary>
    public InstanceHeartbeat(IInstanceStore store, string id, string kind, InstanceOptions options, TimeProvider? time = null)
    {
        _store = store;
        Id = id;
        _kind = kind;
        Options = options;
        _time = time ?? TimeProvider.System;
    }

    /// <summary>Raised when renewing the heartbeat failed (for logging); the next beat tries again.</summary>
    public event Action<Exception>? BeatFailed;

    /// <summary>This process's instance id.</summary>
    public string Id { get; }

    /// <summary>The interval and lapse.</summary>
    public InstanceOptions Options { get; }

    /// <summary>The clock heartbeats are written and judged with.</summary>
    public TimeProvider Time => _time;

    /// <summary>Heartbeats before this time are lapsed: their instances count as dead.</summary>
    public DateTimeOffset LapsedBefore => _time.GetUtcNow() - Options.Lapse;

    /// <summary>The ids of the instances live now; this one always among them (its work is live while it runs, whatever its heartbeat shows).</summary>
    public async Task<IReadOnlySet<string>> ListLiveAsync(CancellationToken cancellationToken)
    {
        var live = new HashSet<string>(await _store.ListLiveInstancesAsync(LapsedBefore, cancellationToken).ConfigureAwait(false), StringComparer.Ordinal) { Id };
        return live;
    }

    /// <summary>Removes the rows of instances whose heartbeat lapsed (after their work was cleaned up); returns how many.</summary>
    public Task<int> RemoveLapsedAsync(CancellationToken cancellationToken) => _store.RemoveLapsedInstancesAsync(LapsedBefore, cancellationToken);

    /// <summary>A new instance id: 96 random bits in lowercase hex (safe as a file name).</summary>
    public static string NewId() => Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(12));

    /// <summary>Registers the instance (its first heartbeat, awaited: a database that refuses it fails the start), then renews it in the background.</summary>
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        if (Interlocked.CompareExchange(ref _state, 1, 0) != 0)
        {
            return;
        }

        _startedAt = _time.GetUtcNow();
        await _store.BeatAsync(Id, _kind, $"{Environment.MachineName}:{Environment.ProcessId}", _startedAt, _startedAt, cancellationToken).ConfigureAwait(false);
        _loop = Task.Run(() => BeatLoopAsync(_stopping.Token), CancellationToken.None);
    }

    private async Task BeatLoopAsync(CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(Options.Heartbeat, _time);
        try
        {
            while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false))
            {
                try
                {
                    await _store.BeatAsync(Id, _kind, $"{Environment.MachineName}:{Environment.ProcessId}", _startedAt, _time.GetUtcNow(), cancellationToken).ConfigureAwait(false);
                }
                catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
                {
                    BeatFailed?.Invoke(e);
                }
            }
        }
        catch (OperationCanceledException)
        {
            // Stopping.
        }
    }

    /// <summary>Stops renewing and removes the instance's row (its work has ended by then): other processes need not wait for the lapse.</summary>
    public async Task StopAsync()
    {
        if (Interlocked.Exchange(ref _state, 2) != 1)
        {
            return;
        }

        await _stopping.CancelAsync().ConfigureAwait(false);
        await _loop.ConfigureAwait(false);
        try
        {
            await _store.RemoveInstanceAsync(Id, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            BeatFailed?.Invoke(e); // Its row lapses like a crashed process's.
        }
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await StopAsync().ConfigureAwait(false);
        _stopping.Dispose();
    }
}
