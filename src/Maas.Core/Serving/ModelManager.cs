using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using Maas.Core.Observability;

namespace Maas.Core.Serving;

/// <summary>The state of one model version as the repository extension reports it.</summary>
/// <param name="Name">The model name.</param>
/// <param name="Version">The version.</param>
/// <param name="State">READY, LOADING, UNLOADING or UNAVAILABLE.</param>
/// <param name="Reason">Why it is in that state, when not READY.</param>
public sealed record ModelVersionState(string Name, long Version, string State, string Reason);

/// <summary>What the metadata endpoints show for a model version.</summary>
public sealed record ModelDescription(
    string Name,
    long Version,
    IReadOnlyList<long> Versions,
    string Platform,
    IReadOnlyList<TensorMetadata> Inputs,
    IReadOnlyList<TensorMetadata> Outputs,
    bool Loaded);

/// <summary>
/// Loads model versions on their first request (or at start), routes requests to their schedulers, and unloads
/// at run time; requests already queued on an unloading version finish first.
/// </summary>
public sealed class ModelManager : IAsyncDisposable
{
    private readonly IServableModelCatalog _catalog;
    private readonly IModelBackendFactory[] _factories;
    private readonly ModelManagerOptions _options;
    private readonly object _lock = new();
    private readonly Dictionary<(string Name, long Version), Entry> _entries = [];
    private readonly HashSet<string> _unloadedModels = [];
    private readonly ConcurrentDictionary<(string Model, string? Version), (ServableModel Model, long At)> _resolved = new();

    /// <summary>Creates the manager.</summary>
    public ModelManager(IServableModelCatalog catalog, IEnumerable<IModelBackendFactory> factories, ModelManagerOptions? options = null)
    {
        _catalog = catalog;
        _factories = factories.ToArray();
        _options = options ?? new ModelManagerOptions();
    }

    /// <summary>The schedulers' histograms and spans (also used by the protocols for their encode spans).</summary>
    public Observability.ServingTelemetry Telemetry => _options.Telemetry ?? Observability.ServingTelemetry.Off;

    /// <summary>Raised after a version loads, fails to load or unloads (name, version, state, reason).</summary>
    public event Action<ModelVersionState>? StateChanged;

    /// <summary>Raised when a load attempt ends, with its duration (metrics).</summary>
    public event Action<ModelLoadReport>? LoadReported;

    /// <summary>Runs a request on the resolved version, loading it first when needed. Takes ownership of <paramref name="request"/>.</summary>
    public async Task<InferenceResponse> InferAsync(string model, string? version, InferenceRequest request, CancellationToken cancellationToken)
    {
        ModelScheduler scheduler;
        try
        {
            scheduler = await AcquireAsync(model, version, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            request.Dispose();
            throw;
        }

        return await scheduler.InferAsync(request, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The scheduler of the resolved version, loading it when it is not loaded yet (the caller waits).</summary>
    public async Task<ModelScheduler> AcquireAsync(string model, string? version, CancellationToken cancellationToken)
    {
        var servable = await ResolveAsync(model, version, cancellationToken).ConfigureAwait(false);
        Task<ModelScheduler> loading;
        lock (_lock)
        {
            var entry = GetEntry(servable);
            entry.LastUsed = Stopwatch.GetTimestamp();
            if (entry.Scheduler is { } ready)
            {
                return ready;
            }

            if (entry.Unloaded || _unloadedModels.Contains(servable.Name))
            {
                throw new InferenceException(InferenceErrorKind.Unavailable,
                    $"model '{servable.Name}' version {servable.Version} is unloaded; load it with POST /v2/repository/models/{servable.Name}/load");
            }

            if (entry.Loading is null && entry.FailedAt is { } failedAt
                && Stopwatch.GetElapsedTime(failedAt) < _options.RetryFailedLoadAfter)
            {
                throw new InferenceException(InferenceErrorKind.Unavailable,
                    $"model '{servable.Name}' version {servable.Version} failed to load: {entry.Reason}");
            }

            loading = entry.Loading ?? StartLoad(entry, servable);
        }

        return await loading.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Loads the resolved version (or, without a version, the one the catalog picks) and clears an earlier unload.</summary>
    public async Task<ModelVersionState> LoadAsync(string model, string? version, CancellationToken cancellationToken)
    {
        var servable = await ResolveAsync(model, version, cancellationToken, fresh: true).ConfigureAwait(false);
        Task<ModelScheduler> loading;
        lock (_lock)
        {
            _unloadedModels.Remove(servable.Name);
            var entry = GetEntry(servable);
            entry.Unloaded = false;
            loading = entry.Scheduler is { } s ? Task.FromResult(s) : entry.Loading ?? StartLoad(entry, servable);
        }

        try
        {
            await loading.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (InferenceException)
        {
            // The state below carries the reason.
        }

        return State(servable.Name, servable.Version);
    }

    /// <summary>
    /// Unloads one version, or every loaded version of the model when <paramref name="version"/> is null, and keeps
    /// them unloaded until loaded again. Completes when their queued and running requests have finished.
    /// </summary>
    public async Task<IReadOnlyList<ModelVersionState>> UnloadAsync(string model, string? version, CancellationToken cancellationToken)
    {
        List<Entry> targets;
        if (version is null && !model.Contains(':', StringComparison.Ordinal))
        {
            // Resolve only to check that the model exists and to learn its canonical name.
            var servable = await ResolveAsync(model, null, cancellationToken, fresh: true).ConfigureAwait(false);
            lock (_lock)
            {
                _unloadedModels.Add(servable.Name);
                targets = _entries.Values.Where(e => e.Name == servable.Name).ToList();
                foreach (var e in targets)
                {
                    e.Unloaded = true;
                }
            }
        }
        else
        {
            var servable = await ResolveAsync(model, version, cancellationToken, fresh: true).ConfigureAwait(false);
            lock (_lock)
            {
                var entry = GetEntry(servable);
                entry.Unloaded = true;
                targets = [entry];
            }
        }

        var results = new List<ModelVersionState>();
        foreach (var entry in targets)
        {
            await UnloadEntryAsync(entry).ConfigureAwait(false);
            results.Add(State(entry.Name, entry.Version));
        }

        return results;
    }

    /// <summary>
    /// Every version this manager has seen, loaded or not, with its state and engine instances (0 when not loaded):
    /// one look under the lock, for gauges read on every scrape.
    /// </summary>
    public IReadOnlyList<ModelVersionLoad> Versions()
    {
        lock (_lock)
        {
            return [.. _entries.Values.Select(e => new ModelVersionLoad(e.Name, e.Version, e.StateName, e.Scheduler?.InstanceCount ?? 0))];
        }
    }

    /// <summary>Requests queued or running on a loaded version (0 when it is not loaded).</summary>
    public int ActiveRequests(string name, long version)
    {
        ModelScheduler? scheduler;
        lock (_lock)
        {
            scheduler = _entries.TryGetValue((name, version), out var e) ? e.Scheduler : null;
        }

        return scheduler is null ? 0 : scheduler.QueueLength + scheduler.Executing;
    }

    /// <summary>
    /// Applies a model's changed serving configuration to its loaded versions: each whose scheduling changed is
    /// loaded again with the new settings and swapped in; the old one drains its requests, then unloads.
    /// </summary>
    public async Task RefreshAsync(string name, CancellationToken cancellationToken)
    {
        List<Entry> loaded;
        lock (_lock)
        {
            loaded = _entries.Values.Where(e => e.Name == name && e.Scheduler is not null).ToList();
        }

        foreach (var entry in loaded)
        {
            ServableModel fresh;
            try
            {
                fresh = await ResolveAsync(name, entry.Version.ToString(CultureInfo.InvariantCulture), cancellationToken, fresh: true).ConfigureAwait(false);
            }
            catch (InferenceException)
            {
                continue; // gone from the catalog; the deletion path unloads it
            }

            ModelScheduler? current;
            lock (_lock)
            {
                current = entry.Scheduler;
                if (current is null || SameScheduling(current.Options, fresh.Scheduler))
                {
                    entry.Servable = fresh;
                    continue;
                }
            }

            var factory = _factories.First(f => f.CanLoad(fresh.Format));
            var replacement = await CreateSchedulerAsync(factory, fresh, entry.Statistics).ConfigureAwait(false);
            ModelScheduler? old = null;
            lock (_lock)
            {
                if (entry.Scheduler == current && !entry.Unloaded)
                {
                    old = current;
                    entry.Scheduler = replacement;
                    entry.Servable = fresh;
                }
            }

            // Either the old scheduler drains, or (unloaded meanwhile) the replacement is not needed.
            await (old ?? replacement).DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Unloads versions idle for longer than their keep-alive (0 keeps them loaded); they load again on their next
    /// request. Returns the versions it unloaded.
    /// </summary>
    public async Task<IReadOnlyList<ModelVersionState>> UnloadIdleAsync()
    {
        List<Entry> idle;
        var now = Stopwatch.GetTimestamp();
        lock (_lock)
        {
            idle = _entries.Values.Where(e =>
                    e.Scheduler is { } s && e.Servable is { KeepAlive: { } keep } && keep > TimeSpan.Zero
                    && Stopwatch.GetElapsedTime(e.LastUsed, now) > keep && s.QueueLength + s.Executing == 0)
                .ToList();
        }

        var states = new List<ModelVersionState>();
        foreach (var entry in idle)
        {
            await UnloadEntryAsync(entry, NotLoadedReason).ConfigureAwait(false);
            states.Add(State(entry.Name, entry.Version));
        }

        return states;
    }

    private static bool SameScheduling(SchedulerOptions a, SchedulerOptions b) =>
        a with { PreferredBatchSizes = [], Providers = [] } == b with { PreferredBatchSizes = [], Providers = [] }
        && a.PreferredBatchSizes.SequenceEqual(b.PreferredBatchSizes)
        && a.Providers.SequenceEqual(b.Providers);

    /// <summary>
    /// Drops versions that left the catalog (deleted from the registry): drains and unloads them and forgets their
    /// state, without asking the catalog, which no longer knows them.
    /// </summary>
    public async Task ForgetAsync(string name, string? version)
    {
        List<Entry> targets;
        lock (_lock)
        {
            targets = _entries.Values
                .Where(e => e.Name == name && (version is null || e.Version.ToString(CultureInfo.InvariantCulture) == version))
                .ToList();
        }

        _resolved.Clear();
        foreach (var entry in targets)
        {
            await UnloadEntryAsync(entry).ConfigureAwait(false);
            lock (_lock)
            {
                _entries.Remove((entry.Name, entry.Version));
            }
        }
    }

    /// <summary>The repository index: every servable version with its state; with <paramref name="readyOnly"/>, only loaded ones.</summary>
    public async Task<IReadOnlyList<ModelVersionState>> IndexAsync(bool readyOnly, CancellationToken cancellationToken)
    {
        var all = await _catalog.ListAsync(cancellationToken).ConfigureAwait(false);
        var keys = all.Select(m => (m.Name, m.Version)).ToHashSet();
        lock (_lock)
        {
            keys.UnionWith(_entries.Keys.Where(k => _entries[k].Scheduler is not null || _entries[k].Loading is not null));
        }

        return keys.OrderBy(k => k.Name, StringComparer.Ordinal).ThenBy(k => k.Version)
            .Select(k => State(k.Name, k.Version))
            .Where(s => !readyOnly || s.State == "READY")
            .ToArray();
    }

    /// <summary>True when the version can serve now or will load on its first request.</summary>
    public async Task<bool> IsReadyAsync(string model, string? version, CancellationToken cancellationToken)
    {
        var servable = await ResolveAsync(model, version, cancellationToken).ConfigureAwait(false);
        var state = State(servable.Name, servable.Version);
        return state.State == "READY"
            || (state.State == "UNAVAILABLE" && state.Reason == NotLoadedReason && _factories.Any(f => f.CanLoad(servable.Format)));
    }

    /// <summary>Metadata of the resolved version: from the loaded backend, else from the registry's signature, else by loading it.</summary>
    public async Task<ModelDescription> DescribeAsync(string model, string? version, CancellationToken cancellationToken)
    {
        var servable = await ResolveAsync(model, version, cancellationToken).ConfigureAwait(false);
        var versions = await _catalog.VersionsAsync(servable.Name, cancellationToken).ConfigureAwait(false);
        ModelScheduler? scheduler;
        lock (_lock)
        {
            scheduler = _entries.TryGetValue((servable.Name, servable.Version), out var e) ? e.Scheduler : null;
        }

        if (scheduler is null && (servable.Inputs is null || servable.Outputs is null))
        {
            // Without a signature from the registry, the loaded model is the only one that can tell.
            scheduler = await AcquireAsync(model, version, cancellationToken).ConfigureAwait(false);
        }

        return scheduler is not null
            ? new ModelDescription(servable.Name, servable.Version, versions, scheduler.Backend.Platform, scheduler.Backend.Inputs, scheduler.Backend.Outputs, true)
            : new ModelDescription(servable.Name, servable.Version, versions, PlatformOf(servable), servable.Inputs!, servable.Outputs!, false);
    }

    /// <summary>Statistics of every version that has served requests, or of one model, or of one version.</summary>
    public async Task<IReadOnlyList<ModelStatisticsSnapshot>> StatisticsAsync(string? model, string? version, CancellationToken cancellationToken)
    {
        string? name = null;
        long? only = null;
        if (model is not null)
        {
            var servable = await ResolveAsync(model, version, cancellationToken).ConfigureAwait(false);
            name = servable.Name;
            only = version is null && !model.Contains(':', StringComparison.Ordinal) ? null : servable.Version;
            lock (_lock)
            {
                GetEntry(servable); // a known but idle version reports zeros, as in Triton
            }
        }

        return Snapshot(name, only);
    }

    /// <summary>Statistics of every version that has served requests, without resolving anything (for metrics scrapes).</summary>
    public IReadOnlyList<ModelStatisticsSnapshot> Statistics() => Snapshot(null, null);

    private ModelStatisticsSnapshot[] Snapshot(string? name, long? only)
    {
        lock (_lock)
        {
            return _entries.Values
                .Where(e => (name is null || e.Name == name) && (only is null || e.Version == only))
                .OrderBy(e => e.Name, StringComparer.Ordinal).ThenBy(e => e.Version)
                .Select(e => e.Statistics.Snapshot(e.Name, e.Version.ToString(CultureInfo.InvariantCulture)))
                .ToArray();
        }
    }

    /// <summary>Forgets cached name and alias resolutions (after the registry changed).</summary>
    public void InvalidateResolutions() => _resolved.Clear();

    /// <summary>Drains and unloads every loaded version.</summary>
    public async ValueTask DisposeAsync()
    {
        List<Entry> all;
        lock (_lock)
        {
            all = [.. _entries.Values];
        }

        foreach (var e in all)
        {
            await UnloadEntryAsync(e).ConfigureAwait(false);
        }
    }

    /// <summary>The state of one version.</summary>
    public ModelVersionState State(string name, long version)
    {
        lock (_lock)
        {
            if (!_entries.TryGetValue((name, version), out var e))
            {
                return new ModelVersionState(name, version, "UNAVAILABLE",
                    _unloadedModels.Contains(name) ? UnloadedReason : NotLoadedReason);
            }

            return new ModelVersionState(name, version, e.StateName, e.Reason ?? "");
        }
    }

    private const string NotLoadedReason = "not loaded yet (loads on its first request)";
    private const string UnloadedReason = "unloaded";

    private static string PlatformOf(ServableModel m) => m.Format switch
    {
        Formats.ModelFormat.Onnx => "onnxruntime_onnx",
        Formats.ModelFormat.Gguf => "llama_cpp_gguf",
        _ => m.Format.ToString().ToLowerInvariant(),
    };

    private async ValueTask<ServableModel> ResolveAsync(string model, string? version, CancellationToken cancellationToken, bool fresh = false)
    {
        var key = (model, version);
        var now = Stopwatch.GetTimestamp();
        if (!fresh && _resolved.TryGetValue(key, out var cached) && Stopwatch.GetElapsedTime(cached.At, now) < _options.ResolveCacheTime)
        {
            return cached.Model;
        }

        var servable = await _catalog.ResolveAsync(model, version, cancellationToken).ConfigureAwait(false);
        if (_options.ResolveCacheTime > TimeSpan.Zero)
        {
            if (_resolved.Count > 10_000)
            {
                _resolved.Clear(); // a crude bound against callers probing many names
            }

            _resolved[key] = (servable, now);
        }

        return servable;
    }

    // Called with _lock held.
    private Entry GetEntry(ServableModel servable)
    {
        if (!_entries.TryGetValue((servable.Name, servable.Version), out var entry))
        {
            entry = new Entry(servable.Name, servable.Version);
            _entries[(servable.Name, servable.Version)] = entry;
        }

        return entry;
    }

    // Called with _lock held.
    private Task<ModelScheduler> StartLoad(Entry entry, ServableModel servable)
    {
        var factory = _factories.FirstOrDefault(f => f.CanLoad(servable.Format));
        if (factory is null)
        {
            throw new InferenceException(InferenceErrorKind.Unavailable,
                $"model '{servable.Name}' version {servable.Version} is {servable.Format}, which this server cannot serve over the inference protocol");
        }

        entry.StateName = "LOADING";
        entry.Reason = null;
        entry.FailedAt = null;
        entry.Servable = servable;
        var started = Stopwatch.GetTimestamp();
        var load = Task.Run(() => CreateSchedulerAsync(factory, servable, entry.Statistics));
        entry.Loading = load.ContinueWith(
            t =>
            {
                ModelVersionState state;
                lock (_lock)
                {
                    entry.Loading = null;
                    if (t.IsCompletedSuccessfully)
                    {
                        entry.Scheduler = t.Result;
                        entry.StateName = "READY";
                    }
                    else
                    {
                        entry.StateName = "UNAVAILABLE";
                        entry.Reason = "load failed: " + (t.Exception?.InnerException?.Message ?? "cancelled");
                        entry.FailedAt = Stopwatch.GetTimestamp();
                    }

                    state = new ModelVersionState(entry.Name, entry.Version, entry.StateName, entry.Reason ?? "");
                }

                StateChanged?.Invoke(state);
                LoadReported?.Invoke(new ModelLoadReport(entry.Name, entry.Version, "onnxruntime", Stopwatch.GetElapsedTime(started), t.IsCompletedSuccessfully));
                return t.IsCompletedSuccessfully
                    ? t.Result
                    : throw new InferenceException(InferenceErrorKind.Unavailable,
                        $"model '{entry.Name}' version {entry.Version} failed to load: {t.Exception?.InnerException?.Message}", t.Exception?.InnerException);
            },
            CancellationToken.None,
            TaskContinuationOptions.ExecuteSynchronously,
            TaskScheduler.Default);
        return entry.Loading;
    }

    private async Task<ModelScheduler> CreateSchedulerAsync(IModelBackendFactory factory, ServableModel servable, InferenceStatistics statistics)
    {
        var options = servable.Scheduler;
        var path = await _catalog.GetArtifactPathAsync(servable, CancellationToken.None).ConfigureAwait(false);
        var spec = new ModelLoadSpec(servable.Name, servable.Version, path, options.InstanceCount, options.ThreadsPerInstance) { Providers = options.Providers };
        var backend = factory.Load(spec, CancellationToken.None);
        try
        {
            return new ModelScheduler(servable.Name, servable.Version.ToString(CultureInfo.InvariantCulture), backend, options, statistics, _options.Telemetry);
        }
        catch
        {
            backend.Dispose();
            throw;
        }
    }

    private async Task UnloadEntryAsync(Entry entry, string unloadedReason = UnloadedReason)
    {
        Task<ModelScheduler>? loading;
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
            catch (InferenceException)
            {
                // Nothing loaded, nothing to unload.
            }
        }

        ModelScheduler? scheduler;
        lock (_lock)
        {
            scheduler = entry.Scheduler;
            entry.Scheduler = null;
            if (scheduler is not null)
            {
                entry.StateName = "UNLOADING";
                entry.Reason = "in-flight requests are finishing";
            }
        }

        if (scheduler is null)
        {
            lock (_lock)
            {
                if (entry.StateName != "LOADING")
                {
                    entry.StateName = "UNAVAILABLE";
                    entry.Reason = entry.Unloaded ? UnloadedReason : entry.Reason;
                }
            }

            return;
        }

        await scheduler.DisposeAsync().ConfigureAwait(false);
        ModelVersionState state;
        lock (_lock)
        {
            entry.StateName = "UNAVAILABLE";
            entry.Reason = entry.Unloaded ? UnloadedReason : unloadedReason;
            state = new ModelVersionState(entry.Name, entry.Version, entry.StateName, entry.Reason);
        }

        StateChanged?.Invoke(state);
    }

    private sealed class Entry(string name, long version)
    {
        public string Name { get; } = name;

        public long Version { get; } = version;

        public InferenceStatistics Statistics { get; } = new();

        public ModelScheduler? Scheduler { get; set; }

        public Task<ModelScheduler>? Loading { get; set; }

        public string StateName { get; set; } = "UNAVAILABLE";

        public string? Reason { get; set; } = NotLoadedReason;

        public long? FailedAt { get; set; }

        public bool Unloaded { get; set; }

        // What the loaded scheduler was built from (its options, its keep-alive).
        public ServableModel? Servable { get; set; }

        public long LastUsed { get; set; } = Stopwatch.GetTimestamp();
    }
}

/// <summary>Settings of the <see cref="ModelManager"/>.</summary>
public sealed record ModelManagerOptions
{
    /// <summary>How long a resolved name, alias or version is reused before asking the catalog again.</summary>
    public TimeSpan ResolveCacheTime { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>How long a failed load is reported before a request may try loading again.</summary>
    public TimeSpan RetryFailedLoadAfter { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Histograms and spans of the schedulers (null: none).</summary>
    public Observability.ServingTelemetry? Telemetry { get; init; }
}
