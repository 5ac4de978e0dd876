using System.Collections.Concurrent;
using System.Threading.Channels;
using Maas.Core.Tenancy;
using Microsoft.Extensions.Options;

namespace Maas.Server.Auth;

/// <summary>
/// Writes usage records, audit entries and keys' last-used times to the database in batches, from one background
/// loop fed by a channel; a graceful shutdown waits for running requests and drains the channel (nothing is lost).
/// </summary>
/// <remarks>
/// The same loop seeds and re-seeds the budget counters, so a record is never counted both as pending and as part
/// of the database total (see <see cref="LimitTracker"/>).
/// </remarks>
public sealed class UsageRecorder : IHostedService, IAsyncDisposable
{
    private static readonly TimeSpan Tick = TimeSpan.FromMilliseconds(500);

    // How often counters of keys and tenants unused for long are dropped (LimitTracker.Sweep).
    private static readonly TimeSpan SweepInterval = TimeSpan.FromMinutes(1);

    private readonly ITenancyStore _store;
    private readonly Observability.RequestMetrics? _requestMetrics;
    private readonly LimitTracker _tracker;
    private readonly TimeProvider _time;
    private readonly UsageOptions _options;
    private readonly TimeSpan _budgetSync;
    private readonly TimeSpan _idleCounters;
    private readonly ILogger<UsageRecorder> _logger;
    private readonly Channel<object> _channel;
    private readonly ConcurrentDictionary<string, DateTimeOffset> _lastUsed = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _abort = new();
    private Task _loop = Task.CompletedTask;
    private long _dropped;
    private long _written;
    private long _auditWritten;
    private long _setAside;
    private long _running;
    private int _disposed;

    /// <summary>Creates the recorder.</summary>
    public UsageRecorder(ITenancyStore store, LimitTracker tracker, TimeProvider time, IOptions<UsageOptions> options, IOptions<LimitsOptions> limits, IOptions<AuthOptions> auth,
        ILogger<UsageRecorder> logger, Observability.RequestMetrics? requestMetrics = null)
    {
        // Counters are dropped only once no cached key can still hold them (twice the key cache's time) and their
        // window is over; an in-flight call holds its own with its running count.
        _idleCounters = TimeSpan.FromSeconds(Math.Max(limits.Value.IdleCounterSeconds, 2 * Math.Max(auth.Value.KeyCacheSeconds, auth.Value.UnknownKeyCacheSeconds)));
        _requestMetrics = requestMetrics;
        _store = store;
        _tracker = tracker;
        _time = time;
        _options = options.Value;
        _budgetSync = TimeSpan.FromSeconds(limits.Value.BudgetSyncSeconds);
        _logger = logger;
        _channel = Channel.CreateBounded<object>(new BoundedChannelOptions(_options.QueueCapacity)
        {
            SingleReader = true,
            FullMode = BoundedChannelFullMode.Wait, // TryWrite then fails instead of dropping silently; we count it
        });
    }

    /// <summary>Usage records written so far.</summary>
    public long Written => Interlocked.Read(ref _written);

    /// <summary>Audit entries written so far.</summary>
    public long AuditWritten => Interlocked.Read(ref _auditWritten);

    /// <summary>Usage records and audit entries set aside because the database refused their values (each logged).</summary>
    public long SetAside => Interlocked.Read(ref _setAside);

    /// <summary>Records dropped because the queue was full.</summary>
    public long Dropped => Interlocked.Read(ref _dropped);

    /// <summary>Counts a request that will record usage when it ends (shutdown waits for it).</summary>
    public void RequestStarted() => Interlocked.Increment(ref _running);

    /// <summary>Counts the end of a request started with <see cref="RequestStarted"/> (after its record is queued).</summary>
    public void RequestEnded() => Interlocked.Decrement(ref _running);

    /// <summary>Queues a finished request's usage and counts its cost against the budgets at once.</summary>
    public void Record(UsageRecord record, LimitCounters? key, LimitCounters tenant)
    {
        _requestMetrics?.Record(record);
        _tracker.AddPending(key, tenant, record.TotalTokens, record.ComputeMs);
        if (!_channel.Writer.TryWrite(new Charged(record, key, tenant)))
        {
            // The database has been unreachable for long (or we are stopped): keep serving, but say what is lost.
            LimitTracker.MarkWritten(key, tenant, record.TotalTokens, record.ComputeMs, DateTimeOffset.MinValue);
            if (Interlocked.Increment(ref _dropped) % 1000 == 1)
            {
                _logger.LogError("Usage queue full or closed ({Capacity} records): {Dropped} usage record(s) dropped so far", _options.QueueCapacity, Dropped);
            }
        }
    }

    /// <summary>Queues an audit entry.</summary>
    public void Audit(AuditEntry entry)
    {
        if (!_channel.Writer.TryWrite(entry))
        {
            _logger.LogError("Audit entry dropped (queue full or closed): {Action} by {Actor} -> {Status}", entry.Action, entry.Actor, entry.Status);
        }
    }

    /// <summary>Notes that a key was used (written with the next last-used batch).</summary>
    public void Touch(string keyId, DateTimeOffset at) => _lastUsed[keyId] = at;

    /// <summary>Completes when everything queued before the call is written.</summary>
    public Task FlushAsync(CancellationToken cancellationToken)
    {
        var marker = new Marker(null, null, null);
        return _channel.Writer.TryWrite(marker) ? marker.Done.Task.WaitAsync(cancellationToken) : Task.CompletedTask;
    }

    /// <summary>Loads a key's (or else a tenant's) usage of the current day and month into its budget counters.</summary>
    public Task SeedAsync(string? keyId, string? tenant, LimitCounters counters, CancellationToken cancellationToken)
    {
        var marker = new Marker(keyId, tenant, counters);
        return _channel.Writer.TryWrite(marker) ? marker.Done.Task.WaitAsync(cancellationToken) : Task.CompletedTask;
    }

    /// <inheritdoc />
    public Task StartAsync(CancellationToken cancellationToken)
    {
        _loop = Task.Run(RunAsync, CancellationToken.None);
        return Task.CompletedTask;
    }

    /// <inheritdoc />
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        // Requests still running (the server may stop after us) queue their usage first.
        try
        {
            while (Interlocked.Read(ref _running) > 0)
            {
                await Task.Delay(10, cancellationToken);
            }
        }
        catch (OperationCanceledException)
        {
            _logger.LogWarning("{Count} request(s) still running at shutdown; their usage is not recorded", Interlocked.Read(ref _running));
        }

        _channel.Writer.TryComplete();
        // Drain: the loop writes what is queued and exits; if the database stays down past the host's shutdown
        // timeout, give up (and say so) rather than hang the shutdown.
        try
        {
            await _loop.WaitAsync(cancellationToken);
        }
        catch (OperationCanceledException)
        {
            await _abort.CancelAsync();
            await _loop;
        }
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        // The container disposes this twice (as itself and as a hosted service); the second call does nothing.
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }

        _channel.Writer.TryComplete();
        await _abort.CancelAsync();
        await _loop;
        _abort.Dispose();
    }

    private async Task RunAsync()
    {
        var reader = _channel.Reader;
        var usage = new List<Charged>();
        var audit = new List<AuditEntry>();
        var markers = new List<Marker>();
        var schedule = new PeriodicWork(_time.GetUtcNow(), TimeSpan.FromSeconds(_options.LastUsedFlushSeconds), _budgetSync, SweepInterval);
        var done = false;
        while (!done)
        {
            try
            {
                if (!reader.TryPeek(out _))
                {
                    using var tick = new CancellationTokenSource(Tick);
                    try
                    {
                        done = !await reader.WaitToReadAsync(tick.Token);
                    }
                    catch (OperationCanceledException) when (tick.IsCancellationRequested)
                    {
                        // A tick without records: time for the periodic work below.
                    }
                }

                Drain(reader, usage, audit, markers);
                if ((usage.Count > 0 || audit.Count > 0) && markers.Count == 0 && usage.Count < _options.BatchSize && !reader.Completion.IsCompleted && _options.FlushMs > 0)
                {
                    // Let a batch fill: one transaction for many requests instead of one per request.
                    await Task.Delay(_options.FlushMs, _abort.Token);
                    Drain(reader, usage, audit, markers);
                }

                await WriteAsync(usage, audit);
                await CompleteMarkersAsync(markers);
                done |= reader.Completion.IsCompleted;
                await RunPeriodicWorkAsync(schedule, done);
            }
            catch (OperationCanceledException) when (_abort.IsCancellationRequested)
            {
                var lost = usage.Count + audit.Count + reader.Count;
                _logger.LogError("Shutdown timeout reached before the usage writer caught up (database slow or unreachable): {Lost} usage record(s) and audit entries not written",
                    lost);
                foreach (var marker in markers)
                {
                    marker.Done.TrySetCanceled();
                }

                return;
            }
            catch (Exception e)
            {
                foreach (var marker in markers)
                {
                    marker.Done.TrySetException(e);
                }

                markers.Clear();
                _logger.LogError(e, "Usage writer failed; continuing");
            }
        }
    }

    // Markers wait for everything queued before them to be written; some also re-seed their counters from the database.
    private async Task CompleteMarkersAsync(List<Marker> markers)
    {
        foreach (var marker in markers)
        {
            if (marker.Counters is { } counters)
            {
                await SeedNowAsync(marker.KeyId, marker.Tenant, counters);
            }

            marker.Done.TrySetResult();
        }

        markers.Clear();
    }

    // The writer's timed work between batches: last-used times, budget re-seeds and the idle-counter sweep.
    private async Task RunPeriodicWorkAsync(PeriodicWork schedule, bool done)
    {
        var now = _time.GetUtcNow();
        if (now >= schedule.NextTouch || done)
        {
            await TouchAsync();
            schedule.NextTouch = now + schedule.TouchEvery;
        }

        if (schedule.SyncEvery > TimeSpan.Zero && now >= schedule.NextSync && !done)
        {
            foreach (var (keyId, tenant, counters) in _tracker.Seeded().ToArray())
            {
                await SeedNowAsync(keyId, tenant, counters);
            }

            schedule.NextSync = now + schedule.SyncEvery;
        }

        if (now >= schedule.NextSweep && !done)
        {
            // Here, on the loop that seeds and marks written: no seed or write of swept counters runs meanwhile.
            _tracker.Sweep(_idleCounters);
            schedule.NextSweep = now + schedule.SweepEvery;
        }
    }

    // When the writer's timed work is next due (owned by its one loop).
    private sealed class PeriodicWork(DateTimeOffset start, TimeSpan touchEvery, TimeSpan syncEvery, TimeSpan sweepEvery)
    {
        public TimeSpan TouchEvery { get; } = touchEvery;

        public TimeSpan SyncEvery { get; } = syncEvery;

        public TimeSpan SweepEvery { get; } = sweepEvery;

        public DateTimeOffset NextTouch { get; set; } = start + touchEvery;

        public DateTimeOffset NextSync { get; set; } = start + syncEvery;

        public DateTimeOffset NextSweep { get; set; } = start + sweepEvery;
    }

    private void Drain(ChannelReader<object> reader, List<Charged> usage, List<AuditEntry> audit, List<Marker> markers)
    {
        while (usage.Count < _options.BatchSize && reader.TryRead(out var item))
        {
            switch (item)
            {
                case Charged record:
                    usage.Add(record);
                    break;
                case AuditEntry entry:
                    audit.Add(entry);
                    break;
                case Marker marker:
                    markers.Add(marker);
                    // Everything queued before the marker is in the lists now: write it, then answer the marker.
                    return;
            }
        }
    }

    private async Task WriteAsync(List<Charged> usage, List<AuditEntry> audit)
    {
        if (usage.Count == 0 && audit.Count == 0)
        {
            return;
        }

        await WriteOrSetAsideAsync(usage.ConvertAll(c => c.Record), audit);
        foreach (var (record, key, tenant) in usage)
        {
            LimitTracker.MarkWritten(key, tenant, record.TotalTokens, record.ComputeMs, record.At);
        }

        usage.Clear();
        audit.Clear();
    }

    // A batch the database refuses for its values is split in halves until the refused records stand alone; those
    // are set aside (logged and counted) so one bad record cannot stop usage and audit for everyone.
    private async Task WriteOrSetAsideAsync(IReadOnlyList<UsageRecord> usage, IReadOnlyList<AuditEntry> audit)
    {
        try
        {
            await AppendWithRetriesAsync(usage, audit);
            Interlocked.Add(ref _written, usage.Count);
            Interlocked.Add(ref _auditWritten, audit.Count);
            return;
        }
        catch (RecordsRefusedException e) when (usage.Count + audit.Count > 1)
        {
            _logger.LogWarning("The database refused a batch of {Usage} usage record(s) and {Audit} audit entries ({Message}); writing it in parts to find the refused ones",
                usage.Count, audit.Count, e.InnerException?.Message);
        }
        catch (RecordsRefusedException e)
        {
            Interlocked.Increment(ref _setAside);
            if (usage.Count == 1)
            {
                var r = usage[0];
                _logger.LogError("Usage record set aside, the database refused it ({Message}): tenant {Tenant}, key {KeyId}, model {Model}, {Protocol} {Operation}, status " +
                    "{Status}, {Tokens} token(s)", e.InnerException?.Message, Printable(r.Tenant), Printable(r.KeyId), Printable(r.Model), Printable(r.Protocol),
                    Printable(r.Operation), r.Status, r.TotalTokens);
            }
            else
            {
                var a = audit[0];
                _logger.LogError("Audit entry set aside, the database refused it ({Message}): {Action} by {Actor} on {Target} -> {Status}", e.InnerException?.Message,
                    Printable(a.Action), Printable(a.Actor), Printable(a.Target), a.Status);
            }

            return;
        }

        if (usage.Count > 1 || (usage.Count == 1 && audit.Count > 0))
        {
            var half = usage.Count / 2;
            await WriteOrSetAsideAsync(Slice(usage, 0, half), audit);
            await WriteOrSetAsideAsync(Slice(usage, half, usage.Count - half), []);
            return;
        }

        var split = audit.Count / 2;
        await WriteOrSetAsideAsync(usage, Slice(audit, 0, split));
        await WriteOrSetAsideAsync([], Slice(audit, split, audit.Count - split));
    }

    private async Task AppendWithRetriesAsync(IReadOnlyList<UsageRecord> usage, IReadOnlyList<AuditEntry> audit)
    {
        var delay = TimeSpan.FromMilliseconds(200);
        while (true)
        {
            try
            {
                await _store.AppendAsync(usage, audit, _abort.Token);
                return;
            }
            catch (Exception e) when (e is not RecordsRefusedException && !_abort.IsCancellationRequested)
            {
                // The database is down, busy or locked; the transaction rolled back, so a retry cannot write a record twice.
                _logger.LogWarning("Writing {Usage} usage record(s) and {Audit} audit entries failed ({Message}); retrying in {Delay}", usage.Count, audit.Count, e.Message, delay);
                await Task.Delay(delay, _abort.Token);
                delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, TimeSpan.FromSeconds(10).Ticks));
            }
        }
    }

    private static T[] Slice<T>(IReadOnlyList<T> list, int start, int count)
    {
        var part = new T[count];
        for (var i = 0; i < count; i++)
        {
            part[i] = list[start + i];
        }

        return part;
    }

    // A refused value in a log line: control characters (the NUL that got it refused) shown as escapes, long text cut.
    private static string Printable(string? value)
    {
        if (value is null)
        {
            return "(none)";
        }

        var text = new System.Text.StringBuilder(Math.Min(value.Length, 128));
        foreach (var c in value.Length <= 128 ? value : value[..128])
        {
            if (char.IsControl(c) || char.IsSurrogate(c))
            {
                text.Append("\\u").Append(((int)c).ToString("x4", System.Globalization.CultureInfo.InvariantCulture));
            }
            else
            {
                text.Append(c);
            }
        }

        return text.ToString();
    }

    private async Task SeedNowAsync(string? keyId, string? tenant, LimitCounters counters)
    {
        var (day, month) = LimitTracker.PeriodStarts(_time.GetUtcNow());
        var totals = await _store.GetPeriodUsageAsync(keyId, tenant, day, month, _abort.Token);
        _tracker.Seed(counters, totals, day, month);
    }

    private async Task TouchAsync()
    {
        if (_lastUsed.IsEmpty)
        {
            return;
        }

        var batch = new List<KeyValuePair<string, DateTimeOffset>>();
        foreach (var pair in _lastUsed)
        {
            // Remove only what we write: a newer use that lands meanwhile stays for the next batch.
            if (_lastUsed.TryRemove(pair))
            {
                batch.Add(pair);
            }
        }

        try
        {
            await _store.TouchKeysAsync(batch, _abort.Token);
        }
        catch (Exception e) when (!_abort.IsCancellationRequested)
        {
            foreach (var (id, at) in batch)
            {
                _lastUsed.TryAdd(id, at);
            }

            _logger.LogWarning("Writing last-used times of {Count} key(s) failed ({Message}); retrying later", batch.Count, e.Message);
        }
    }

    // A queued record with the counters its cost was counted in as pending (moved to written there, after the commit).
    private sealed record Charged(UsageRecord Record, LimitCounters? Key, LimitCounters Tenant);

    private sealed class Marker(string? keyId, string? tenant, LimitCounters? counters)
    {
        public string? KeyId { get; } = keyId;

        public string? Tenant { get; } = tenant;

        public LimitCounters? Counters { get; } = counters;

        public TaskCompletionSource Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
