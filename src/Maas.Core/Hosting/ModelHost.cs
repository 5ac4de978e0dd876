using System.Diagnostics;
using Maas.Core.Formats;
using Maas.Core.Observability;
using Maas.Core.Registry;

namespace Maas.Core.Hosting;

/// <summary>
/// The one place models are loaded, kept and unloaded, for every engine: loads a version once while concurrent
/// callers wait, counts the requests holding it, unloads it after its keep-alive without requests or to make room
/// in the memory budget (least recently used first, never a pinned or busy one), reloads it when its settings
/// change, and reports its state and measured memory.
/// </summary>
/// <remarks>
/// A request holds a <see cref="ModelLease"/> for as long as it uses the model; an unloaded or replaced model is
/// disposed only once its last lease is gone. Loads run one at a time so the growth of the process's resident size
/// while one runs is that model's.
/// </remarks>
public sealed class ModelHost : IAsyncDisposable
{
    /// <summary>The reason of a version that has not loaded yet (it loads on its first request).</summary>
    public const string NotLoadedReason = "not loaded yet (loads on its first request)";

    /// <summary>The reason of a version an operator unloaded.</summary>
    public const string UnloadedReason = "unloaded";

    /// <summary>
    /// A keep-alive that unloads the version as soon as no request holds it (Ollama's keep_alive 0): the idle sweep
    /// takes it on its next pass, or at once when <see cref="UnloadIdleAsync"/> is called after the request ends.
    /// </summary>
    public static readonly TimeSpan UnloadWhenIdle = TimeSpan.FromTicks(1);

    private readonly IModelEngine[] _engines;
    private readonly ModelHostOptions _options;
    private readonly TimeProvider _time;
    private readonly object _lock = new();
    private readonly Dictionary<ModelKey, Entry> _entries = [];
    private readonly SemaphoreSlim _loadGate = new(1, 1);
    private readonly ITimer _sweeper;
    private readonly Lock _mappedLock = new();
    private IReadOnlyDictionary<string, long> _mapped = new Dictionary<string, long>(StringComparer.Ordinal);
    private DateTimeOffset? _mappedAt;
    private long _mappedReads;
    private long _loads;
    private long _reloads;
    private long _evictions;
    private bool _disposed;

    // Set (under _lock) while a load waits for a busy model to finish so it can be evicted; released models signal it.
    private TaskCompletionSource? _modelIdle;

    /// <summary>Creates the host; idle models are looked for every <see cref="ModelHostOptions.IdleSweepInterval"/> on <paramref name="time"/>.</summary>
    public ModelHost(IEnumerable<IModelEngine> engines, ModelHostOptions? options = null, TimeProvider? time = null)
    {
        _engines = engines.ToArray();
        _options = options ?? new ModelHostOptions();
        _time = time ?? TimeProvider.System;
        var period = _options.IdleSweepInterval;
        _sweeper = _time.CreateTimer(_ => _ = SweepAsync(), null, period, period);
    }

    /// <summary>The host's settings.</summary>
    public ModelHostOptions Options => _options;

    /// <summary>Raised after a version loaded, failed to load or unloaded (with the reason).</summary>
    public event Action<HostedModelStatus>? StateChanged;

    /// <summary>Raised when a load attempt ends, with its duration (metrics).</summary>
    public event Action<ModelLoadReport>? LoadReported;

    /// <summary>Raised when a sweep for idle models fails (the next sweep tries again).</summary>
    public event Action<Exception>? SweepFailed;

    /// <summary>Raised when a loaded model was evicted to make room (in the memory budget or its tenant's quota).</summary>
    public event Action<ModelEviction>? Evicted;

    /// <summary>Raised when a request that had to wait for its model's load stops waiting (loaded, failed or timed out).</summary>
    public event Action<ModelLoadWait>? LoadWaited;

    /// <summary>
    /// A tenant's memory quota in bytes (0: none), asked before each load of one of its models; null: no quotas. The
    /// tenant's loaded models together stay under it by evicting its own least recently used idle ones.
    /// </summary>
    public Func<string, CancellationToken, ValueTask<long>>? TenantMemoryQuotas { get; init; }

    /// <summary>Requests holding this host's models, for in-process work that gives way to serving (training).</summary>
    public ServingActivity Activity { get; } = new();

    /// <summary>Successful loads since start (first loads and reloads).</summary>
    public long LoadCount => Interlocked.Read(ref _loads);

    /// <summary>Successful loads of versions that had been loaded before and were unloaded or evicted since.</summary>
    public long ReloadCount => Interlocked.Read(ref _reloads);

    /// <summary>Models evicted to make room since start.</summary>
    public long EvictionCount => Interlocked.Read(ref _evictions);

    /// <summary>Passes over /proc/self/smaps made to measure model files' resident pages (at loads, and by <see cref="Models"/> at most once per
    /// <see cref="ModelHostOptions.MappedMemoryRefreshInterval"/>).</summary>
    public long MappedMemoryReads => Interlocked.Read(ref _mappedReads);

    /// <summary>When the resident pages of the model files reported by <see cref="Models"/> were read (null: never).</summary>
    public DateTimeOffset? MappedMemoryReadAt
    {
        get
        {
            lock (_mappedLock)
            {
                return _mappedAt;
            }
        }
    }

    /// <summary>The tenant that owns the model of <paramref name="key"/> (its quota applies).</summary>
    public static string TenantOf(ModelKey key) => ModelKeys.TrySplit(key.Name, out var owner, out _) ? owner : Model.DefaultOwner;

    /// <summary>True when some engine of this host loads <paramref name="format"/>.</summary>
    public bool CanLoad(ModelFormat format) => _engines.Any(e => e.Formats.Contains(format));

    /// <summary>
    /// Holds the version of <paramref name="request"/>, loading it first when needed (concurrent callers share one
    /// load and wait, up to <see cref="ModelHostOptions.LoadWaitLimit"/>). Dispose the lease when the work is done.
    /// </summary>
    /// <exception cref="ModelHostException">The model cannot be provided (see its kind).</exception>
    public async Task<ModelLease> AcquireAsync(ModelLoadRequest request, CancellationToken cancellationToken)
    {
        for (var attempt = 0; ; attempt++)
        {
            Task<Instance> loading;
            lock (_lock)
            {
                var entry = GetEntry(request);
                entry.Keep(request);
                entry.LastUsed = _time.GetUtcNow();
                if (entry.Current is { } ready)
                {
                    ready.InFlight++;
                    Activity.Started();
                    return new ModelLease(this, ready);
                }

                if (entry.Held)
                {
                    throw new ModelHostException(ModelHostErrorKind.Unloaded, $"model {entry.Key} is unloaded");
                }

                if (entry.Loading is null && entry.FailedAt is { } failedAt && _time.GetUtcNow() - failedAt < _options.RetryFailedLoadAfter)
                {
                    throw new ModelHostException(ModelHostErrorKind.LoadFailed, $"model {entry.Key} failed to load: {entry.Reason}");
                }

                loading = entry.Loading ?? StartLoad(entry, request);
            }

            Instance instance;
            var waitStarted = Stopwatch.GetTimestamp();
            try
            {
                instance = await loading.WaitAsync(_options.LoadWaitLimit, _time, cancellationToken).ConfigureAwait(false);
                ReportWait(request, waitStarted, "loaded");
            }
            catch (TimeoutException)
            {
                ReportWait(request, waitStarted, "timeout");
                throw new ModelHostException(ModelHostErrorKind.LoadTimeout,
                    $"model {request.Key} did not load within the load wait limit of {(long)_options.LoadWaitLimit.TotalMilliseconds} ms (Maas:Hosting:LoadWaitMs); the load " +
                    $"goes on, try again later")
                {
                    WaitLimit = _options.LoadWaitLimit,
                };
            }
            catch (ModelHostException)
            {
                ReportWait(request, waitStarted, "failed");
                throw;
            }

            lock (_lock)
            {
                // Unloaded or replaced between its load and now: go round and take the current one.
                if (!instance.Retired)
                {
                    instance.InFlight++;
                    Activity.Started();
                    instance.Entry.LastUsed = _time.GetUtcNow();
                    return new ModelLease(this, instance);
                }
            }

            if (attempt >= 3)
            {
                throw new ModelHostException(ModelHostErrorKind.Unloaded, $"model {request.Key} was unloaded while loading");
            }
        }
    }

    /// <summary>Loads the version (clearing an operator's unload) and waits; returns its state, failed or not.</summary>
    public async Task<HostedModelStatus> LoadAsync(ModelLoadRequest request, CancellationToken cancellationToken)
    {
        var loading = BeginLoad(request);
        if (loading is not null)
        {
            try
            {
                await loading.WaitAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (ModelHostException)
            {
                // The state carries the reason.
            }
        }

        return Status(request.Key)!;
    }

    /// <summary>Like <see cref="LoadAsync"/>, but a load that fails throws (with its kind: does not fit, over quota, failed).</summary>
    /// <exception cref="ModelHostException">The version did not load.</exception>
    public async Task<HostedModelStatus> EnsureLoadedAsync(ModelLoadRequest request, CancellationToken cancellationToken)
    {
        if (BeginLoad(request) is { } loading)
        {
            await loading.WaitAsync(cancellationToken).ConfigureAwait(false);
        }

        return Status(request.Key)!;
    }

    /// <summary>Marks the version unloaded by an operator (loaded or not): requests are refused until <see cref="LoadAsync"/>.</summary>
    public void Hold(ModelLoadRequest request)
    {
        lock (_lock)
        {
            var entry = GetEntry(request);
            entry.Held = true;
            if (entry.Current is null && entry.Loading is null)
            {
                entry.State = ModelState.Unavailable;
                entry.Reason = UnloadedReason;
            }
        }
    }

    /// <summary>
    /// Unloads the version once the requests holding it have finished (they do; new ones do not start on it). With
    /// <paramref name="hold"/> it stays unloaded until <see cref="LoadAsync"/>; without, it loads on its next request.
    /// </summary>
    public async Task<HostedModelStatus?> UnloadAsync(ModelKey key, bool hold, CancellationToken cancellationToken = default)
    {
        Entry? entry;
        Task<Instance>? loading;
        lock (_lock)
        {
            if (!_entries.TryGetValue(key, out entry))
            {
                return null;
            }

            entry.Held |= hold;
            loading = entry.Loading;
        }

        if (loading is not null)
        {
            try
            {
                await loading.WaitAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (ModelHostException)
            {
                // Nothing loaded, nothing to unload.
            }
        }

        await UnloadEntryAsync(entry, hold ? UnloadedReason : NotLoadedReason).ConfigureAwait(false);
        return Status(key);
    }

    /// <summary>
    /// Applies changed settings to a loaded version: when its engine says they differ, a new instance is loaded with
    /// them and swapped in, and the old one is disposed once its requests finish. Returns true when it reloaded.
    /// </summary>
    public async Task<bool> RefreshAsync(ModelLoadRequest request, CancellationToken cancellationToken)
    {
        Instance? current;
        Entry? entry;
        long refresh;
        lock (_lock)
        {
            if (!_entries.TryGetValue(request.Key, out entry))
            {
                return false;
            }

            entry.Keep(request);
            refresh = ++entry.Refreshes;
            current = entry.Current;
            if (current is null || entry.Engine.SameSettings(current.Request, request))
            {
                // The settings asked for last are the loaded ones: a reload an earlier refresh started is not kept.
                entry.SettledRefresh = refresh;
                return false;
            }
        }

        var replacement = await LoadInstanceAsync(entry, request, cancellationToken).ConfigureAwait(false);
        Instance? old = null;
        lock (_lock)
        {
            // The latest refresh wins, whichever load finishes first: two refreshes started from one instance used to
            // keep the first to finish and drop the other, which could be the newer settings.
            if (entry.Current is { } loaded && !entry.Held && refresh > entry.SettledRefresh)
            {
                old = loaded;
                entry.Current = replacement;
                entry.SettledRefresh = refresh;
            }
        }

        // Either the old one goes once drained, or (unloaded meanwhile) the replacement is not needed.
        await RetireAsync(old ?? replacement).ConfigureAwait(false);
        return old is not null;
    }

    /// <summary>Unloads versions that left the registry and forgets them (in-flight requests finish first).</summary>
    public async Task ForgetAsync(string name, int? version)
    {
        Entry[] targets;
        lock (_lock)
        {
            targets = [.. _entries.Values.Where(e => e.Key.Name == name && (version is null || e.Key.Version == version))];
        }

        foreach (var entry in targets)
        {
            await UnloadAsync(entry.Key, hold: false).ConfigureAwait(false);
            lock (_lock)
            {
                if (entry.Current is null && entry.Loading is null)
                {
                    _entries.Remove(entry.Key);
                }
            }
        }
    }

    /// <summary>
    /// Sets how long a loaded version stays after its last request, as a request with that keep-alive would, without
    /// holding it; false when the host does not know the version (nothing loaded, nothing to keep).
    /// </summary>
    public bool KeepAliveFor(ModelKey key, TimeSpan keepAlive)
    {
        lock (_lock)
        {
            if (!_entries.TryGetValue(key, out var entry))
            {
                return false;
            }

            entry.KeepFor(keepAlive);
            return true;
        }
    }

    /// <summary>Unloads every loaded version idle for longer than its keep-alive (and not pinned); returns them.</summary>
    public async Task<IReadOnlyList<HostedModelStatus>> UnloadIdleAsync()
    {
        var now = _time.GetUtcNow();
        List<Instance> idle = [];
        lock (_lock)
        {
            foreach (var entry in _entries.Values)
            {
                if (entry.Current is { InFlight: 0 } instance && !entry.Pinned && entry.KeepAlive > TimeSpan.Zero
                    && now - entry.LastUsed >= entry.KeepAlive)
                {
                    Detach(entry, ModelState.Unloading, "idle past its keep-alive");
                    idle.Add(instance);
                }
            }
        }

        var states = new List<HostedModelStatus>();
        foreach (var instance in idle)
        {
            await FinishUnloadAsync(instance, NotLoadedReason).ConfigureAwait(false);
            states.Add(Status(instance.Entry.Key)!);
        }

        return states;
    }

    /// <summary>
    /// Brings every tenant whose loaded models together take more than its memory quota now (a quota lowered since they
    /// loaded, on this server or on another one sharing the database) back under it by evicting its least recently
    /// used idle, unpinned models; busy ones are looked at again at the next sweep. Returns how many were evicted.
    /// </summary>
    public async Task<long> EnforceQuotasAsync(CancellationToken cancellationToken)
    {
        if (TenantMemoryQuotas is not { } quotas)
        {
            return 0;
        }

        Dictionary<string, long> used = [];
        lock (_lock)
        {
            if (_disposed)
            {
                return 0;
            }

            foreach (var entry in _entries.Values.Where(e => e.Current is not null))
            {
                var tenant = TenantOf(entry.Key);
                used[tenant] = used.GetValueOrDefault(tenant) + entry.Current!.AccountedBytes;
            }
        }

        long evicted = 0;
        foreach (var (tenant, bytes) in used)
        {
            var quota = await quotas(tenant, cancellationToken).ConfigureAwait(false);
            // A load running now applies the quota itself when it ends; this one waits for the next sweep.
            if (quota <= 0 || bytes <= quota || !await _loadGate.WaitAsync(0, cancellationToken).ConfigureAwait(false))
            {
                continue;
            }

            try
            {
                var before = EvictionCount;
                await MakeRoomAsync(null, 0, quota, e => TenantOf(e.Key) == tenant, "memory_quota", null).ConfigureAwait(false);
                evicted += EvictionCount - before;
            }
            finally
            {
                _loadGate.Release();
            }
        }

        return evicted;
    }

    /// <summary>The state of one version (null when the host has never seen it).</summary>
    public HostedModelStatus? Status(ModelKey key)
    {
        lock (_lock)
        {
            return _entries.TryGetValue(key, out var e) ? Describe(e, null) : null;
        }
    }

    /// <summary>The names of the host's engines.</summary>
    public IReadOnlyList<string> Engines => [.. _engines.Select(e => e.Name).Distinct()];

    /// <summary>
    /// Every version the host knows, loaded or not; with <paramref name="measureMappedFiles"/> the resident pages of
    /// their files (one pass over /proc for all, reused for <see cref="ModelHostOptions.MappedMemoryRefreshInterval"/>
    /// unless a file is new to it), else reported as 0.
    /// </summary>
    public IReadOnlyList<HostedModelStatus> Models(bool measureMappedFiles = false)
    {
        Entry[] all;
        lock (_lock)
        {
            all = [.. _entries.Values];
        }

        var paths = all.Select(e => e.Current?.Model.ArtifactPath).OfType<string>().ToArray();
        var mapped = measureMappedFiles ? MappedFiles(paths) : null;
        lock (_lock)
        {
            return [.. all.Select(e => Describe(e, mapped)).OrderBy(s => s.Key.Name, StringComparer.Ordinal).ThenBy(s => s.Key.Version)];
        }
    }

    /// <summary>What the memory budget charges for every loaded model now, in bytes.</summary>
    public long AccountedBytes()
    {
        lock (_lock)
        {
            return _entries.Values.Sum(e => e.Current?.AccountedBytes ?? 0);
        }
    }

    /// <summary>The loaded model of a version, or null (no lease: for reading its description, not for running it).</summary>
    public IHostedModel? Peek(ModelKey key)
    {
        lock (_lock)
        {
            return _entries.TryGetValue(key, out var e) ? e.Current?.Model : null;
        }
    }

    /// <summary>Requests holding a version now (0 when it is not loaded).</summary>
    public int InFlight(ModelKey key)
    {
        lock (_lock)
        {
            return _entries.TryGetValue(key, out var e) && e.Current is { } c ? c.InFlight : 0;
        }
    }

    /// <summary>Unloads every model (their in-flight requests finish first); later acquires are refused.</summary>
    public async ValueTask DisposeAsync()
    {
        Entry[] all;
        lock (_lock)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            all = [.. _entries.Values];
            SignalModelIdle();
        }

        await _sweeper.DisposeAsync().ConfigureAwait(false);
        foreach (var entry in all)
        {
            Task<Instance>? loading;
            lock (_lock)
            {
                loading = entry.Loading;
            }

            if (loading is not null)
            {
                try
                {
                    await loading.ConfigureAwait(false);
                }
                catch (ModelHostException)
                {
                    // Nothing to unload.
                }
            }

            await UnloadEntryAsync(entry, UnloadedReason).ConfigureAwait(false);
        }
    }

    internal void Release(Instance instance)
    {
        lock (_lock)
        {
            instance.InFlight--;
            Activity.Ended();
            instance.Entry.LastUsed = _time.GetUtcNow();
            if (instance.InFlight == 0)
            {
                if (instance.Retired)
                {
                    instance.Drained.TrySetResult();
                }

                SignalModelIdle();
            }
        }
    }

    // Called with _lock held.
    private void SignalModelIdle()
    {
        _modelIdle?.TrySetResult();
        _modelIdle = null;
    }

    private async Task SweepAsync()
    {
        try
        {
            await UnloadIdleAsync().ConfigureAwait(false);
            await EnforceQuotasAsync(CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            SweepFailed?.Invoke(ex);
        }
    }

    // Clears an operator's unload and starts a load unless loaded; the load in progress, or null when loaded.
    private Task<Instance>? BeginLoad(ModelLoadRequest request)
    {
        lock (_lock)
        {
            var entry = GetEntry(request);
            entry.Held = false;
            entry.Keep(request);
            return entry.Current is null ? entry.Loading ?? StartLoad(entry, request) : null;
        }
    }

    private void ReportWait(ModelLoadRequest request, long started, string outcome)
    {
        if (LoadWaited is { } handler)
        {
            string engine;
            lock (_lock)
            {
                engine = _entries.TryGetValue(request.Key, out var e) ? e.Engine.Name : "";
            }

            handler(new ModelLoadWait(request.Key, engine, Stopwatch.GetElapsedTime(started), outcome));
        }
    }

    // Called with _lock held.
    private Entry GetEntry(ModelLoadRequest request)
    {
        if (_disposed)
        {
            throw new ModelHostException(ModelHostErrorKind.ShuttingDown, "the server is shutting down");
        }

        if (_entries.TryGetValue(request.Key, out var entry))
        {
            return entry;
        }

        var engine = _engines.FirstOrDefault(e => e.Formats.Contains(request.Format))
            ?? throw new ModelHostException(ModelHostErrorKind.NoEngine, $"model {request.Key} is {request.Format}, which no engine of this server loads");
        entry = new Entry(request.Key, engine, request.Format, _time.GetUtcNow());
        _entries[request.Key] = entry;
        return entry;
    }

    // Called with _lock held.
    private Task<Instance> StartLoad(Entry entry, ModelLoadRequest request)
    {
        entry.State = ModelState.Loading;
        entry.Reason = "";
        entry.FailedAt = null;
        var load = Task.Run(() => LoadCurrentAsync(entry, request));
        entry.Loading = load;
        return load;
    }

    private async Task<Instance> LoadCurrentAsync(Entry entry, ModelLoadRequest request)
    {
        Instance instance;
        try
        {
            instance = await LoadInstanceAsync(entry, request, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not ModelHostException and not OutOfMemoryException)
        {
            // An engine's fault outside its load (its estimate, say) fails this load like any other: a load task left
            // faulted would fail every later call to this version until the server restarts.
            var failed = new ModelHostException(ModelHostErrorKind.LoadFailed, $"model {entry.Key} failed to load: {EngineMessages.WithoutPaths(ex.Message)}", ex);
            FailLoad(entry, failed);
            throw failed;
        }
        catch (ModelHostException ex)
        {
            FailLoad(entry, ex);
            throw;
        }

        HostedModelStatus ready;
        lock (_lock)
        {
            entry.Loading = null;
            entry.Current = instance;
            entry.State = ModelState.Ready;
            entry.Reason = "";
            entry.LastUsed = _time.GetUtcNow();
            if (entry.EverLoaded)
            {
                _reloads++;
            }

            entry.EverLoaded = true;
            _loads++;
            ready = Describe(entry, null);
        }

        StateChanged?.Invoke(ready);
        return instance;
    }

    private void FailLoad(Entry entry, ModelHostException ex)
    {
        HostedModelStatus failed;
        lock (_lock)
        {
            entry.Loading = null;
            // Not fitting is no fault of the model: the next request tries again at once (others may be idle by then).
            var noRoom = ex.Kind is ModelHostErrorKind.DoesNotFit or ModelHostErrorKind.QuotaExceeded;
            entry.State = ModelState.Unavailable;
            // The engine's reason alone: every message that shows it says "failed to load: " before it (the host's
            // own, the load routes', readiness'), and the state says it is unavailable.
            entry.Reason = noRoom ? ex.Message : ex.InnerException is { } inner ? EngineMessages.WithoutPaths(inner.Message) : ex.Message;
            entry.FailedAt = noRoom ? null : _time.GetUtcNow();
            failed = Describe(entry, null);
        }

        StateChanged?.Invoke(failed);
    }

    // Loads one instance, making room in the budget first, and measures what it took.
    private async Task<Instance> LoadInstanceAsync(Entry entry, ModelLoadRequest request, CancellationToken cancellationToken)
    {
        // A version loaded before is expected to take what it was measured to take then (engines' estimates run low).
        // Room is made for its peak while loading (an engine parses the file next to the weights it builds), as measured
        // at its last load.
        var estimate = Math.Max(Math.Max(0, entry.Engine.EstimateMemoryBytes(request)), Math.Max(entry.LastMeasuredBytes, _options.ReserveLoadPeak ? entry.LastPeakBytes : 0));
        var started = Stopwatch.GetTimestamp();
        var tenant = TenantOf(entry.Key);
        var quota = TenantMemoryQuotas is { } quotas ? await quotas(tenant, cancellationToken).ConfigureAwait(false) : 0;
        await _loadGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            // The tenant's own idle models make room for its quota first, then anyone's for the budget.
            await MakeRoomAsync(entry, estimate, quota, e => TenantOf(e.Key) == tenant, "memory_quota", (used, waited) => new ModelHostException(
                ModelHostErrorKind.QuotaExceeded,
                $"model {entry.Key} needs about {estimate} bytes, but tenant '{tenant}' has a memory quota of {quota} bytes (its limits.memory_quota_bytes) "
                + $"with {used} bytes taken by its loaded models, each of them pinned or busy{waited}")
            { LimitBytes = quota, UsedBytes = used }).ConfigureAwait(false);
            var budget = _options.MemoryBudgetBytes;
            await MakeRoomAsync(entry, estimate, budget, _ => true, "memory_budget", (used, waited) => new ModelHostException(
                ModelHostErrorKind.DoesNotFit,
                $"model {entry.Key} needs about {estimate} bytes, but the memory budget (Maas:Hosting:MemoryBudgetBytes) of {budget} bytes "
                + $"has {Math.Max(0, budget - used)} free and every other loaded model is pinned or busy{waited}")
            { LimitBytes = budget, UsedBytes = used }).ConfigureAwait(false);
            var before = ProcessMemory.AnonymousBytes();
            var residentBefore = ProcessMemory.ResidentBytes();
            var peakKnown = ProcessMemory.ResetPeakResident();
            IHostedModel model;
            try
            {
                model = await entry.Engine.LoadAsync(request, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                LoadReported?.Invoke(new ModelLoadReport(entry.Key.Name, entry.Key.Version, entry.Engine.Name, Stopwatch.GetElapsedTime(started), false));
                throw new ModelHostException(ModelHostErrorKind.LoadFailed, $"model {entry.Key} failed to load: {EngineMessages.WithoutPaths(ex.Message)}", ex);
            }

            // The model's growth: anonymous memory (heap, engine buffers) plus the resident pages of its own file.
            var privateBytes = Math.Max(0, ProcessMemory.AnonymousBytes() - before);
            var mappedAtLoad = MeasureMappedFileAtLoad(model.ArtifactPath);
            LoadReported?.Invoke(new ModelLoadReport(entry.Key.Name, entry.Key.Version, entry.Engine.Name, Stopwatch.GetElapsedTime(started), true));
            var instance = new Instance(entry, model, request, estimate, privateBytes + mappedAtLoad, privateBytes, _time.GetUtcNow());
            entry.LastMeasuredBytes = Math.Max(privateBytes + mappedAtLoad, model.EngineMemoryBytes);
            entry.LastPeakBytes = peakKnown ? Math.Max(0, ProcessMemory.PeakResidentBytes() - residentBefore) : 0;

            // Measured above the estimate: others make room now, so the budget and the quota hold after the load too.
            await MakeRoomAsync(entry, instance.AccountedBytes, quota, e => TenantOf(e.Key) == tenant, "memory_quota", null).ConfigureAwait(false);
            await MakeRoomAsync(entry, instance.AccountedBytes, _options.MemoryBudgetBytes, _ => true, "memory_budget", null).ConfigureAwait(false);
            return instance;
        }
        finally
        {
            _loadGate.Release();
        }
    }

    // Evicts least recently used idle, unpinned models among those counted against a limit until the estimate fits
    // under it (0: no limit); when it cannot, refuses the load (or, without a refusal, leaves it at that). A load that
    // would fit once a busy model finishes waits for that, up to RoomWaitLimit, as a client sending its next request
    // right after a response can find the previous model still busy for a moment (its lease ends after the response).
    // Called with the load gate held.
    private async Task MakeRoomAsync(Entry? loading, long estimate, long limit, Func<Entry, bool> counted, string cause, Func<long, string, ModelHostException>? refusal)
    {
        if (limit <= 0)
        {
            return;
        }

        long? waitStarted = null;
        while (true)
        {
            Instance? victim;
            long used;
            Task? modelIdle = null;
            lock (_lock)
            {
                var others = _entries.Values.Where(e => e != loading && counted(e)).ToArray();
                used = others.Sum(e => e.Current?.AccountedBytes ?? 0);
                if (used + estimate <= limit)
                {
                    return;
                }

                // A model larger than the whole limit is refused before anything is evicted for it.
                var candidate = refusal is not null && estimate > limit ? null : others
                    .Where(e => e.Current is { InFlight: 0 } && !e.Pinned)
                    .OrderBy(e => e.LastUsed)
                    .FirstOrDefault();
                victim = candidate?.Current;
                if (candidate is not null)
                {
                    Detach(candidate, ModelState.Unloading, $"evicted to make room ({cause.Replace('_', ' ')})");
                    _evictions++;
                }
                else if (refusal is not null && loading is not null && !_disposed && FitsOnceBusyModelsFinish(others, estimate, limit))
                {
                    waitStarted ??= _time.GetTimestamp();
                    var remaining = _options.RoomWaitLimit - _time.GetElapsedTime(waitStarted.Value);
                    if (remaining > TimeSpan.Zero)
                    {
                        // The timer is set before the state says so, for whoever watches the state.
                        _modelIdle ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                        modelIdle = _modelIdle.Task.WaitAsync(remaining, _time);
                        loading.Reason = $"waiting for a busy model to finish to make room ({cause.Replace('_', ' ')})";
                    }
                }
            }

            if (modelIdle is not null)
            {
                // Called with the load gate held: other loads, which may fit, go ahead while this one waits.
                _loadGate.Release();
                try
                {
                    await modelIdle.ConfigureAwait(false);
                }
                catch (TimeoutException)
                {
                    // Looked at once more, then refused.
                }
                finally
                {
                    await _loadGate.WaitAsync(CancellationToken.None).ConfigureAwait(false);
                }

                continue;
            }

            if (victim is null)
            {
                if (refusal is null)
                {
                    return;
                }

                throw refusal(used, waitStarted is null ? ""
                    : $" (waited {(long)_options.RoomWaitLimit.TotalMilliseconds} ms, Maas:Hosting:RoomWaitMs, for a busy one to finish)");
            }

            Evicted?.Invoke(new ModelEviction(victim.Entry.Key, victim.Entry.Engine.Name, cause, victim.AccountedBytes));
            await FinishUnloadAsync(victim, $"evicted to make room ({cause.Replace('_', ' ')}); loads on its next request").ConfigureAwait(false);
        }
    }

    // Called with _lock held: evicting every busy model that is not pinned would make room for the estimate.
    private static bool FitsOnceBusyModelsFinish(Entry[] others, long estimate, long limit) =>
        others.Any(e => e.Current is { InFlight: > 0 } && !e.Pinned)
        && others.Where(e => e.Pinned).Sum(e => e.Current?.AccountedBytes ?? 0) + estimate <= limit;

    private async Task UnloadEntryAsync(Entry entry, string reason)
    {
        Instance? instance;
        lock (_lock)
        {
            instance = entry.Current;
            if (instance is null)
            {
                if (entry.State != ModelState.Loading)
                {
                    entry.State = ModelState.Unavailable;
                    entry.Reason = entry.Held ? UnloadedReason : entry.Reason;
                }

                return;
            }

            Detach(entry, ModelState.Unloading, "in-flight requests are finishing");
        }

        await FinishUnloadAsync(instance, reason).ConfigureAwait(false);
    }

    // Called with _lock held: the entry no longer serves from its instance.
    private static void Detach(Entry entry, ModelState state, string reason)
    {
        entry.Current!.Retired = true;
        if (entry.Current.InFlight == 0)
        {
            entry.Current.Drained.TrySetResult();
        }

        entry.Current = null;
        entry.State = state;
        entry.Reason = reason;
    }

    private async Task FinishUnloadAsync(Instance instance, string reason)
    {
        await RetireAsync(instance).ConfigureAwait(false);
        HostedModelStatus state;
        lock (_lock)
        {
            var entry = instance.Entry;
            if (entry.Current is null && entry.Loading is null)
            {
                entry.State = ModelState.Unavailable;
                entry.Reason = entry.Held ? UnloadedReason : reason;
            }

            state = Describe(entry, null);
        }

        StateChanged?.Invoke(state);
    }

    private async Task RetireAsync(Instance instance)
    {
        lock (_lock)
        {
            instance.Retired = true;
            if (instance.InFlight == 0)
            {
                instance.Drained.TrySetResult();
            }
        }

        await instance.Drained.Task.ConfigureAwait(false);
        await instance.Model.DisposeAsync().ConfigureAwait(false);
    }

    // The resident pages of the files, from the last reading while it is fresh and knows them all: a scrape every few
    // seconds would otherwise walk the page tables of every mapping each time (~5% of an LLM server's CPU).
    private IReadOnlyDictionary<string, long> MappedFiles(string[] paths)
    {
        lock (_mappedLock)
        {
            var now = _time.GetUtcNow();
            var fresh = _mappedAt is { } at && now - at < _options.MappedMemoryRefreshInterval;
            if (!fresh || !paths.All(_mapped.ContainsKey))
            {
                _mapped = ProcessMemory.MappedFileBytes(paths);
                _mappedAt = now;
                Interlocked.Increment(ref _mappedReads);
            }

            return _mapped;
        }
    }

    // A load measures its own file at once; later readings start from that value (copied: readers hold the old one).
    private long MeasureMappedFileAtLoad(string path)
    {
        var bytes = ProcessMemory.MappedFileBytes([path])[path];
        Interlocked.Increment(ref _mappedReads);
        lock (_mappedLock)
        {
            _mapped = new Dictionary<string, long>(_mapped, StringComparer.Ordinal) { [path] = bytes };
        }

        return bytes;
    }

    // Called with _lock held.
    private static HostedModelStatus Describe(Entry e, IReadOnlyDictionary<string, long>? mapped)
    {
        var c = e.Current;
        ModelMemory? memory = null;
        if (c is not null)
        {
            var file = mapped is not null && mapped.TryGetValue(c.Model.ArtifactPath, out var m) ? m : 0;
            var engine = c.Model.EngineMemoryBytes;
            memory = new ModelMemory(c.EstimatedBytes, c.ResidentDeltaBytes, c.PrivateBytes, file, engine, c.AccountedBytes, e.LastPeakBytes);
        }

        return new HostedModelStatus(e.Key, e.Engine.Name, e.Format, e.State, e.Reason, c?.InFlight ?? 0, e.Pinned, e.KeepAlive, e.LastUsed, c?.LoadedAt, memory,
            c?.Model.InstanceCount ?? 0, c?.Request.ArtifactKey ?? "");
    }

    internal sealed class Entry(ModelKey key, IModelEngine engine, ModelFormat format, DateTimeOffset created)
    {
        public ModelKey Key { get; } = key;

        public IModelEngine Engine { get; } = engine;

        public ModelFormat Format { get; } = format;

        public Instance? Current { get; set; }

        public Task<Instance>? Loading { get; set; }

        public ModelState State { get; set; }

        public string Reason { get; set; } = NotLoadedReason;

        public DateTimeOffset? FailedAt { get; set; }

        public bool Held { get; set; }

        public bool EverLoaded { get; set; }

        // RefreshAsync calls so far, and the latest of them whose settings are the current instance's.
        public long Refreshes { get; set; }

        public long SettledRefresh { get; set; }

        public long LastMeasuredBytes { get; set; }

        public long LastPeakBytes { get; set; }

        public bool Pinned { get; private set; }

        public TimeSpan KeepAlive { get; private set; }

        public DateTimeOffset LastUsed { get; set; } = created;

        // The latest keep-alive and pin apply at once; other settings need a reload (RefreshAsync).
        public void Keep(ModelLoadRequest request)
        {
            Pinned = request.Pinned;
            KeepAlive = request.KeepAlive;
        }

        public void KeepFor(TimeSpan keepAlive) => KeepAlive = keepAlive;
    }

    internal sealed class Instance
    {
        public Instance(Entry entry, IHostedModel model, ModelLoadRequest request, long estimated, long residentDelta, long privateBytes, DateTimeOffset loadedAt)
        {
            Entry = entry;
            Model = model;
            Request = request;
            EstimatedBytes = estimated;
            ResidentDeltaBytes = residentDelta;
            PrivateBytes = privateBytes;
            LoadedAt = loadedAt;
        }

        public Entry Entry { get; }

        public IHostedModel Model { get; }

        public ModelLoadRequest Request { get; }

        public long EstimatedBytes { get; }

        public long ResidentDeltaBytes { get; }

        public long PrivateBytes { get; }

        public DateTimeOffset LoadedAt { get; }

        public bool Retired { get; set; }

        public int InFlight { get; set; }

        public TaskCompletionSource Drained { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        // What the budget charges: measured growth can read low (a collection during the load), so never below the estimate.
        public long AccountedBytes => Math.Max(Math.Max(EstimatedBytes, ResidentDeltaBytes), Model.EngineMemoryBytes);
    }
}
