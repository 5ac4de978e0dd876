using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using Maas.Core.Hosting;

namespace Maas.Core.TensorServing;

/// <summary>
/// Tensor serving as the inference protocols see it: resolves names, aliases and versions through the catalog, runs
/// requests on the versions' schedulers, and keeps per-version statistics. Loading, keeping alive and unloading is
/// the <see cref="ModelHost"/>'s; an operator's unload holds a version unloaded until it is loaded again.
/// </summary>
public sealed class ModelManager : IHostedModelSource, IAsyncDisposable
{
    private readonly IServableModelCatalog _catalog;
    private readonly ModelHost _host;
    private readonly bool _ownsHost;
    private readonly ModelManagerOptions _options;
    private readonly object _lock = new();
    private readonly Dictionary<ModelKey, InferenceStatistics> _known = [];
    private readonly HashSet<string> _unloadedModels = [];
    private readonly ConcurrentDictionary<(string Model, string? Version), (ServableModel Model, long At)> _resolved = new();
    private long _resolvedGeneration; // moved by every invalidation: a resolution read before one is not cached after it

    /// <summary>Creates the manager with its own host over <paramref name="factories"/> (tests and tools); keep-alives run on <paramref name="time"/>.</summary>
    public ModelManager(IServableModelCatalog catalog, IEnumerable<IModelBackendFactory> factories, ModelManagerOptions? options = null, TimeProvider? time = null)
        : this(catalog, OwnHost(catalog, factories, options ?? new ModelManagerOptions(), time), options)
    {
        _ownsHost = true;
    }

    /// <summary>Creates the manager over the server's shared host.</summary>
    public ModelManager(IServableModelCatalog catalog, ModelHost host, ModelManagerOptions? options = null)
    {
        _catalog = catalog;
        _host = host;
        _options = options ?? new ModelManagerOptions();
    }

    /// <summary>The schedulers' histograms and spans (also used by the protocols for their encode spans).</summary>
    public Observability.ServingTelemetry Telemetry => _options.Telemetry ?? Observability.ServingTelemetry.Off;

    /// <inheritdoc />
    string IHostedModelSource.Name => "onnx";

    /// <summary>Runs a request on the resolved version, loading it first when needed. Takes ownership of <paramref name="request"/>.</summary>
    public Task<InferenceResponse> InferAsync(string model, string? version, InferenceRequest request, CancellationToken cancellationToken) =>
        InferAsync(model, version, request, resolved: null, cancellationToken);

    /// <summary>
    /// Runs a request as <see cref="InferAsync(string, string?, InferenceRequest, CancellationToken)"/> does, telling
    /// <paramref name="resolved"/> the version it runs on before it runs, so that an error answer can name it too.
    /// </summary>
    public async Task<InferenceResponse> InferAsync(string model, string? version, InferenceRequest request, Action<string>? resolved, CancellationToken cancellationToken)
    {
        ModelLease lease;
        try
        {
            lease = await LeaseAsync(model, version, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            request.Dispose();
            throw;
        }

        using (lease)
        {
            var scheduler = ((HostedScheduler)lease.Model).Scheduler;
            resolved?.Invoke(scheduler.Version);
            return await scheduler.InferAsync(request, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>The scheduler of the resolved version, loading it when it is not loaded yet (the caller waits).</summary>
    public async Task<ModelScheduler> AcquireAsync(string model, string? version, CancellationToken cancellationToken)
    {
        using var lease = await LeaseAsync(model, version, cancellationToken).ConfigureAwait(false);
        return ((HostedScheduler)lease.Model).Scheduler;
    }

    /// <summary>
    /// Admits a request to the resolved version before its body is read (a place in its queue), holding the version
    /// until the admission is disposed: a reload with a changed configuration, an unload or an eviction waits for it
    /// instead of draining the scheduler under it (the call was then refused with "is unloading").
    /// </summary>
    /// <exception cref="InferenceException">The version cannot be provided, or its queue is full (<see cref="InferenceErrorKind.QueueFull"/>).</exception>
    public async Task<QueueAdmission> AdmitAsync(string model, string? version, CancellationToken cancellationToken)
    {
        var lease = await LeaseAsync(model, version, cancellationToken).ConfigureAwait(false);
        try
        {
            var scheduler = ((HostedScheduler)lease.Model).Scheduler;
            return new QueueAdmission(lease, scheduler.Admit());
        }
        catch
        {
            lease.Dispose();
            throw;
        }
    }

    /// <summary>Loads the resolved version (or, without a version, the one the catalog picks) and clears an earlier unload.</summary>
    public async Task<ModelVersionState> LoadAsync(string model, string? version, CancellationToken cancellationToken)
    {
        var servable = await ResolveAsync(model, version, cancellationToken, fresh: true).ConfigureAwait(false);
        lock (_lock)
        {
            _unloadedModels.Remove(servable.Name);
        }

        try
        {
            await _host.LoadAsync(RequestFor(servable), cancellationToken).ConfigureAwait(false);
        }
        catch (ModelHostException ex) when (ex.Kind == ModelHostErrorKind.NoEngine)
        {
            throw Unavailable(ex, servable);
        }

        return State(servable.Name, servable.Version);
    }

    /// <summary>
    /// Unloads one version, or every loaded version of the model when <paramref name="version"/> is null, and keeps
    /// them unloaded until loaded again. Completes when their queued and running requests have finished.
    /// </summary>
    public async Task<IReadOnlyList<ModelVersionState>> UnloadAsync(string model, string? version, CancellationToken cancellationToken)
    {
        List<ModelKey> targets;
        if (version is null && !model.Contains(':', StringComparison.Ordinal))
        {
            // Resolve only to check that the model exists and to learn its canonical name.
            var servable = await ResolveAsync(model, null, cancellationToken, fresh: true).ConfigureAwait(false);
            lock (_lock)
            {
                _unloadedModels.Add(servable.Name);
                targets = [.. _known.Keys.Where(k => k.Name == servable.Name)];
            }
        }
        else
        {
            var servable = await ResolveAsync(model, version, cancellationToken, fresh: true).ConfigureAwait(false);
            _host.Hold(RequestFor(servable)); // even when never loaded: a request must not load it
            targets = [Known(servable)];
        }

        var results = new List<ModelVersionState>();
        foreach (var key in targets)
        {
            await _host.UnloadAsync(key, hold: true, cancellationToken).ConfigureAwait(false);
            results.Add(State(key.Name, key.Version));
        }

        return results;
    }

    /// <summary>Requests queued or running on a loaded version (0 when it is not loaded).</summary>
    public int ActiveRequests(string name, int version) => _host.InFlight(new ModelKey(name, version));

    /// <summary>
    /// Applies a model's changed serving configuration to its loaded versions: each whose scheduling changed is
    /// loaded again with the new settings and swapped in; the old one drains its requests, then unloads.
    /// </summary>
    public async Task RefreshAsync(string name, CancellationToken cancellationToken)
    {
        foreach (var status in _host.Models().Where(s => s.Key.Name == name && s.State == ModelState.Ready))
        {
            if (await ((IHostedModelSource)this).RefreshRequestAsync(status, cancellationToken).ConfigureAwait(false) is { } request)
            {
                await _host.RefreshAsync(request, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    /// <summary>
    /// Unloads versions idle for longer than their keep-alive (0 keeps them loaded); they load again on their next
    /// request. Returns the versions it unloaded. (The host also does this on its own timer.)
    /// </summary>
    public async Task<IReadOnlyList<ModelVersionState>> UnloadIdleAsync()
    {
        var unloaded = await _host.UnloadIdleAsync().ConfigureAwait(false);
        return [.. unloaded.Where(IsMine).Select(s => State(s.Key.Name, s.Key.Version))];
    }

    /// <summary>
    /// Drops versions that left the catalog (deleted from the registry): drains and unloads them and forgets their
    /// state, without asking the catalog, which no longer knows them.
    /// </summary>
    public async Task ForgetAsync(string name, int? version)
    {
        InvalidateResolutions();
        await _host.ForgetAsync(name, version).ConfigureAwait(false);
        lock (_lock)
        {
            foreach (var key in _known.Keys.Where(k => k.Name == name && (version is null || k.Version == version)).ToArray())
            {
                _known.Remove(key);
            }

            if (version is null)
            {
                // A model made again under the name starts loadable, as any new model does.
                _unloadedModels.Remove(name);
            }
        }
    }

    /// <summary>Versions whose statistics are kept now (tests check that deleted ones go).</summary>
    internal int StatisticsCount
    {
        get
        {
            lock (_lock)
            {
                return _known.Count;
            }
        }
    }

    /// <summary>Resolutions cached now (tests check their bound).</summary>
    internal int ResolvedCount => _resolved.Count;

    /// <summary>Models held unloaded by an operator now (tests check that deleted ones go).</summary>
    internal int UnloadedModelCount
    {
        get
        {
            lock (_lock)
            {
                return _unloadedModels.Count;
            }
        }
    }

    /// <summary>The repository index: every servable version with its state; with <paramref name="readyOnly"/>, only loaded ones.</summary>
    public async Task<IReadOnlyList<ModelVersionState>> IndexAsync(bool readyOnly, CancellationToken cancellationToken)
    {
        var all = await _catalog.ListAsync(cancellationToken).ConfigureAwait(false);
        var keys = all.Select(m => new ModelKey(m.Name, m.Version)).ToHashSet();
        keys.UnionWith(_host.Models().Where(s => IsMine(s) && s.State is ModelState.Ready or ModelState.Loading).Select(s => s.Key));
        return keys.OrderBy(k => k.Name, StringComparer.Ordinal).ThenBy(k => k.Version)
            .Select(k => State(k.Name, k.Version))
            .Where(s => !readyOnly || s.State == ModelState.Ready.ToProtocolName())
            .ToArray();
    }

    /// <summary>True when the version can serve now or will load on its first request.</summary>
    public async Task<bool> IsReadyAsync(string model, string? version, CancellationToken cancellationToken)
    {
        var servable = await ResolveAsync(model, version, cancellationToken).ConfigureAwait(false);
        var state = State(servable.Name, servable.Version);
        return state.State == ModelState.Ready.ToProtocolName()
            || (state.State == ModelState.Unavailable.ToProtocolName() && state.Reason == ModelHost.NotLoadedReason && _host.CanLoad(servable.Format));
    }

    /// <summary>Metadata of the resolved version: from the loaded backend, else from the registry's signature, else by loading it.</summary>
    public async Task<ModelDescription> DescribeAsync(string model, string? version, CancellationToken cancellationToken)
    {
        var servable = await ResolveAsync(model, version, cancellationToken).ConfigureAwait(false);
        var versions = await _catalog.VersionsAsync(servable.Name, cancellationToken).ConfigureAwait(false);
        var scheduler = (_host.Peek(new ModelKey(servable.Name, servable.Version)) as HostedScheduler)?.Scheduler;
        if (scheduler is null && (servable.Inputs is null || servable.Outputs is null))
        {
            // Without a signature from the registry, the loaded model is the only one that can tell.
            scheduler = await AcquireAsync(model, version, cancellationToken).ConfigureAwait(false);
        }

        return scheduler is not null
            ? new ModelDescription(servable.Name, servable.Version, versions, scheduler.Backend.Platform, scheduler.Backend.Inputs, scheduler.Backend.Outputs, true)
            : new ModelDescription(servable.Name, servable.Version, versions, PlatformOf(servable), servable.Inputs!, servable.Outputs!, false);
    }

    /// <summary>
    /// The version's signature (as <see cref="DescribeAsync"/>) with the scheduling it is served with (server defaults
    /// merged with its serving configuration), for the model configuration extension.
    /// </summary>
    public async Task<(ModelDescription Description, SchedulerOptions Scheduler)> ConfigurationAsync(string model, string? version, CancellationToken cancellationToken)
    {
        var description = await DescribeAsync(model, version, cancellationToken).ConfigureAwait(false);
        var servable = await ResolveAsync(model, version, cancellationToken).ConfigureAwait(false);
        return (description, servable.Scheduler);
    }

    /// <summary>Statistics of every version that has served requests, or of one model, or of one version.</summary>
    public async Task<IReadOnlyList<ModelStatisticsSnapshot>> StatisticsAsync(string? model, string? version, CancellationToken cancellationToken)
    {
        string? name = null;
        int? only = null;
        if (model is not null)
        {
            var servable = await ResolveAsync(model, version, cancellationToken).ConfigureAwait(false);
            name = servable.Name;
            only = version is null && !model.Contains(':', StringComparison.Ordinal) ? null : servable.Version;
            Known(servable); // a known but idle version reports zeros, as in Triton
        }

        return Snapshot(name, only);
    }

    /// <summary>Statistics of every version that has served requests, without resolving anything (for metrics scrapes).</summary>
    public IReadOnlyList<ModelStatisticsSnapshot> Statistics() => Snapshot(null, null);

    /// <summary>
    /// The class labels of version <paramref name="version"/> of <paramref name="model"/> (as an answer names them), by
    /// output; null when it names none or is gone. Taken from the resolution the calls themselves use, so a classified
    /// call costs no catalog read of its own, and an edit is seen as soon as resolutions are (at once after a change
    /// on this server, within <see cref="ModelManagerOptions.ResolveCacheTime"/> after one elsewhere).
    /// </summary>
    public async ValueTask<IReadOnlyDictionary<string, IReadOnlyList<string>>?> LabelsAsync(string model, string version, CancellationToken cancellationToken)
    {
        try
        {
            return (await ResolveAsync(model, version, cancellationToken).ConfigureAwait(false)).Labels;
        }
        catch (InferenceException)
        {
            return null; // deleted (or refused) since it answered: the indices still say what they say
        }
    }

    /// <summary>Forgets cached name and alias resolutions (after the registry changed).</summary>
    public void InvalidateResolutions()
    {
        Interlocked.Increment(ref _resolvedGeneration);
        _resolved.Clear();
    }

    /// <summary>Unloads every loaded version when this manager owns its host (the server's shared host stops with the server).</summary>
    public async ValueTask DisposeAsync()
    {
        if (_ownsHost)
        {
            await _host.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>The state of one version.</summary>
    public ModelVersionState State(string name, int version)
    {
        if (_host.Status(new ModelKey(name, version)) is { } s)
        {
            return new ModelVersionState(name, version, s.State.ToProtocolName(), s.Reason);
        }

        bool unloaded;
        lock (_lock)
        {
            unloaded = _unloadedModels.Contains(name);
        }

        return new ModelVersionState(name, version, ModelState.Unavailable.ToProtocolName(), unloaded ? ModelHost.UnloadedReason : ModelHost.NotLoadedReason);
    }

    /// <inheritdoc />
    async Task<IReadOnlyList<ModelLoadRequest>> IHostedModelSource.LoadAtStartAsync(CancellationToken cancellationToken)
    {
        var all = await _catalog.ListAsync(cancellationToken).ConfigureAwait(false);
        return [.. all.Where(m => m.LoadAtStart || m.Pinned).Select(RequestFor)];
    }

    /// <inheritdoc />
    async Task<ModelLoadRequest?> IHostedModelSource.RefreshRequestAsync(HostedModelStatus model, CancellationToken cancellationToken)
    {
        if (!IsMine(model))
        {
            return null;
        }

        try
        {
            var fresh = await ResolveAsync(model.Key.Name, model.Key.Version.ToString(CultureInfo.InvariantCulture), cancellationToken, fresh: true).ConfigureAwait(false);
            return RequestFor(fresh);
        }
        catch (InferenceException)
        {
            return null; // gone from the catalog; the deletion path unloads it
        }
    }

    /// <inheritdoc />
    async Task<ModelLoadRequest?> IHostedModelSource.OperatorRequestAsync(ModelKey key, Formats.ModelFormat format, bool forLoad, CancellationToken cancellationToken)
    {
        if (format != Formats.ModelFormat.Onnx)
        {
            return null;
        }

        ServableModel servable;
        try
        {
            servable = await ResolveAsync(key.Name, key.Version.ToString(CultureInfo.InvariantCulture), cancellationToken, fresh: true).ConfigureAwait(false);
        }
        catch (InferenceException)
        {
            return null;
        }

        if (forLoad)
        {
            lock (_lock)
            {
                _unloadedModels.Remove(servable.Name);
            }
        }

        return RequestFor(servable);
    }

    /// <summary>How the host loads <paramref name="servable"/> (its scheduling, keep-alive, pin and statistics).</summary>
    public ModelLoadRequest RequestFor(ServableModel servable) => new()
    {
        Key = new ModelKey(servable.Name, servable.Version),
        Format = servable.Format,
        Settings = new TensorModelSettings(servable, StatisticsOf(servable)),
        KeepAlive = servable.KeepAlive ?? TimeSpan.Zero,
        Pinned = servable.Pinned,
        ArtifactBytes = servable.SizeBytes,
        ArtifactKey = servable.ArtifactKey,
    };

    private static ModelHost OwnHost(IServableModelCatalog catalog, IEnumerable<IModelBackendFactory> factories, ModelManagerOptions options, TimeProvider? time) =>
        new([.. factories.Select(f => new TensorModelEngine(f, catalog, options.Telemetry))],
            // No sweep of its own: like the manager before the host, its owner calls UnloadIdleAsync when it wants one.
            new ModelHostOptions { RetryFailedLoadAfter = options.RetryFailedLoadAfter, IdleSweepInterval = Timeout.InfiniteTimeSpan },
            time);

    private bool IsMine(HostedModelStatus status)
    {
        lock (_lock)
        {
            return _known.ContainsKey(status.Key);
        }
    }

    private async Task<ModelLease> LeaseAsync(string model, string? version, CancellationToken cancellationToken)
    {
        var servable = await ResolveAsync(model, version, cancellationToken).ConfigureAwait(false);
        lock (_lock)
        {
            if (_unloadedModels.Contains(servable.Name))
            {
                throw UnloadedError(servable);
            }
        }

        try
        {
            return await _host.AcquireAsync(RequestFor(servable), cancellationToken).ConfigureAwait(false);
        }
        catch (ModelHostException ex)
        {
            throw ex.Kind == ModelHostErrorKind.Unloaded ? UnloadedError(servable) : Unavailable(ex, servable);
        }
    }

    private static InferenceException UnloadedError(ServableModel servable) => new(InferenceErrorKind.Unavailable,
        $"model '{servable.Name}' version {servable.Version} is unloaded; load it with POST /v2/repository/models/{servable.Name}/load");

    private static InferenceException Unavailable(ModelHostException ex, ServableModel servable) => ex.Kind switch
    {
        ModelHostErrorKind.NoEngine => new InferenceException(InferenceErrorKind.Unavailable,
            $"model '{servable.Name}' version {servable.Version} is {servable.Format}, which this server cannot serve over the inference protocol", ex),
        ModelHostErrorKind.LoadFailed when ex.InnerException is { } inner => new InferenceException(InferenceErrorKind.Unavailable,
            $"model '{servable.Name}' version {servable.Version} failed to load: {EngineMessages.WithoutPaths(inner.Message)}", inner),
        // The tenant's own limit, like a rate limit: 429 with its value; it passes once its other models are idle.
        ModelHostErrorKind.QuotaExceeded => new InferenceException(InferenceErrorKind.QueueFull, ex.Message, ex)
        {
            LimitName = "memory_quota_bytes",
            Limit = ex.LimitBytes,
        },
        // The request waited as long as it may; the load goes on and a later request finds the version ready.
        ModelHostErrorKind.LoadTimeout => new InferenceException(InferenceErrorKind.Unavailable, ex.Message, ex)
        {
            LimitName = "load_wait_ms",
            Limit = ex.WaitLimit is { } wait ? (long)wait.TotalMilliseconds : null,
        },
        _ => new InferenceException(InferenceErrorKind.Unavailable, ex.Message, ex),
    };

    // Registers a version this manager serves (its statistics outlive its loads) and returns its key.
    private ModelKey Known(ServableModel servable)
    {
        StatisticsOf(servable);
        return new ModelKey(servable.Name, servable.Version);
    }

    private InferenceStatistics StatisticsOf(ServableModel servable)
    {
        var key = new ModelKey(servable.Name, servable.Version);
        lock (_lock)
        {
            if (!_known.TryGetValue(key, out var statistics))
            {
                statistics = new InferenceStatistics();
                _known[key] = statistics;
            }

            return statistics;
        }
    }

    private ModelStatisticsSnapshot[] Snapshot(string? name, int? only)
    {
        lock (_lock)
        {
            return _known
                .Where(e => (name is null || e.Key.Name == name) && (only is null || e.Key.Version == only))
                .OrderBy(e => e.Key.Name, StringComparer.Ordinal).ThenBy(e => e.Key.Version)
                .Select(e => e.Value.Snapshot(e.Key.Name, e.Key.Version.ToString(CultureInfo.InvariantCulture)))
                .ToArray();
        }
    }

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

        // A registry change between this read and the store below would otherwise leave what was read before it cached
        // after its invalidation (a refresh resolving while a configuration is replaced served the old labels).
        var generation = Volatile.Read(ref _resolvedGeneration);
        var servable = await _catalog.ResolveAsync(model, version, cancellationToken).ConfigureAwait(false);
        if (_options.ResolveCacheTime > TimeSpan.Zero && Volatile.Read(ref _resolvedGeneration) == generation)
        {
            if (_resolved.Count >= _options.ResolveCacheEntries && !_resolved.ContainsKey(key))
            {
                _resolved.Clear(); // a bound against callers probing many spellings (Maas:Inference:ResolveCacheEntries)
            }

            var entry = (servable, now);
            _resolved[key] = entry;
            if (Volatile.Read(ref _resolvedGeneration) != generation)
            {
                _resolved.TryRemove(KeyValuePair.Create(key, entry)); // invalidated between the check and the store
            }
        }

        return servable;
    }
}
