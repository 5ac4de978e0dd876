using Maas.Core.Observability;

namespace Maas.Core.Llm;

/// <summary>A loaded engine as the manager sees it.</summary>
/// <param name="Name">The model name.</param>
/// <param name="Version">The model version.</param>
/// <param name="Engine">The engine.</param>
/// <param name="ActiveRequests">Requests holding it now.</param>
/// <param name="IdleSince">When the last request let go (null while requests run).</param>
public sealed record LoadedLlmEngine(string Name, int Version, ILlmEngine Engine, int ActiveRequests, DateTimeOffset? IdleSince);

/// <summary>
/// Loads LLM engines on first use and unloads them after their keep-alive of idleness (Ollama's keep_alive),
/// never while a request holds them.
/// </summary>
/// <remarks>
/// Each request holds an <see cref="LlmEngineLease"/> from before it is queued until its last token is sent; an
/// engine is idle only when no lease is out. Concurrent first requests share one load.
/// </remarks>
public sealed class LlmEngineManager : IAsyncDisposable
{
    private readonly ILlmEngineFactory _factory;
    private readonly TimeProvider _time;
    private readonly object _lock = new();
    private readonly Dictionary<(string, int), Entry> _entries = [];
    private readonly ITimer _sweeper;
    private bool _disposed;

    /// <summary>Creates the manager; idle engines are checked every <paramref name="sweepInterval"/> (default 1 s).</summary>
    public LlmEngineManager(ILlmEngineFactory factory, TimeProvider? time = null, TimeSpan? sweepInterval = null)
    {
        _factory = factory;
        _time = time ?? TimeProvider.System;
        var period = sweepInterval ?? TimeSpan.FromSeconds(1);
        _sweeper = _time.CreateTimer(_ => _ = UnloadIdleAsync(), null, period, period);
    }

    /// <summary>Raised after an engine loaded (true) or unloaded (false).</summary>
    public event Action<LlmModelSpec, bool>? EngineChanged;

    /// <summary>Raised when a load attempt ends, with its duration (metrics).</summary>
    public event Action<ModelLoadReport>? LoadReported;

    /// <summary>The engine for <paramref name="spec"/>, loading it when needed (the caller waits); dispose the lease when done.</summary>
    /// <exception cref="LlmException">Loading failed (503 with the engine's reason).</exception>
    public async Task<LlmEngineLease> AcquireAsync(LlmModelSpec spec, TimeSpan keepAlive, CancellationToken cancellationToken)
    {
        Entry entry;
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            var key = (spec.Name, spec.Version);
            if (!_entries.TryGetValue(key, out entry!))
            {
                entry = new Entry(spec, _factory.LoadAsync(spec, CancellationToken.None));
                _entries[key] = entry;
                _ = ReportLoadAsync(entry);
            }

            entry.KeepAlive = keepAlive;
            entry.Active++;
        }

        try
        {
            var engine = await entry.Loading.WaitAsync(cancellationToken).ConfigureAwait(false);
            return new LlmEngineLease(this, entry, engine);
        }
        catch (Exception ex)
        {
            Release(entry);
            if (ex is OperationCanceledException || ex is LlmException)
            {
                throw;
            }

            throw new LlmException(LlmErrorKind.Unavailable, $"model '{spec.Name}' version {spec.Version} could not be loaded: {ex.Message}", "model", "model_load_failed", ex);
        }
    }

    /// <summary>The engines loaded now.</summary>
    public IReadOnlyList<LoadedLlmEngine> Loaded()
    {
        lock (_lock)
        {
            return _entries.Values
                .Where(e => e.Loading.IsCompletedSuccessfully)
                .Select(e => new LoadedLlmEngine(e.Spec.Name, e.Spec.Version, e.Loading.Result, e.Active, e.Active == 0 ? e.IdleSince : null))
                .ToArray();
        }
    }

    /// <summary>Unloads every engine that has been idle for its keep-alive; returns how many.</summary>
    public async Task<int> UnloadIdleAsync()
    {
        var now = _time.GetUtcNow();
        List<Entry> idle = [];
        lock (_lock)
        {
            foreach (var (key, entry) in _entries.ToArray())
            {
                if (entry.Active == 0 && entry.Loading.IsCompleted && entry.KeepAlive > TimeSpan.Zero && now - entry.IdleSince >= entry.KeepAlive)
                {
                    _entries.Remove(key);
                    idle.Add(entry);
                }
            }
        }

        foreach (var entry in idle)
        {
            await DisposeEntryAsync(entry).ConfigureAwait(false);
        }

        return idle.Count;
    }

    /// <summary>Unloads a model version when no request holds it; false when it is busy or not loaded.</summary>
    public async Task<bool> TryUnloadAsync(string name, int version)
    {
        Entry? entry;
        lock (_lock)
        {
            if (!_entries.TryGetValue((name, version), out entry) || entry.Active > 0)
            {
                return false;
            }

            _entries.Remove((name, version));
        }

        await DisposeEntryAsync(entry).ConfigureAwait(false);
        return true;
    }

    /// <inheritdoc />
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
            all = _entries.Values.ToArray();
            _entries.Clear();
        }

        await _sweeper.DisposeAsync().ConfigureAwait(false);
        foreach (var entry in all)
        {
            await DisposeEntryAsync(entry).ConfigureAwait(false);
        }
    }

    internal void Release(Entry entry)
    {
        lock (_lock)
        {
            entry.Active--;
            if (entry.Active == 0)
            {
                entry.IdleSince = _time.GetUtcNow();
            }

            // A failed load is forgotten so the next request tries again.
            if (entry.Loading.IsFaulted && _entries.TryGetValue((entry.Spec.Name, entry.Spec.Version), out var current) && current == entry)
            {
                _entries.Remove((entry.Spec.Name, entry.Spec.Version));
            }
        }
    }

    private async Task ReportLoadAsync(Entry entry)
    {
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        bool loaded;
        try
        {
            await entry.Loading.ConfigureAwait(false);
            loaded = true;
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            loaded = false; // the waiting requests see the failure
        }

        LoadReported?.Invoke(new ModelLoadReport(entry.Spec.Name, entry.Spec.Version, "llama.cpp", System.Diagnostics.Stopwatch.GetElapsedTime(started), loaded));
        if (loaded)
        {
            EngineChanged?.Invoke(entry.Spec, true);
        }
    }

    private async Task DisposeEntryAsync(Entry entry)
    {
        try
        {
            var engine = await entry.Loading.ConfigureAwait(false);
            await engine.DisposeAsync().ConfigureAwait(false);
            EngineChanged?.Invoke(entry.Spec, false);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // A load that failed has nothing to unload.
        }
    }

    internal sealed class Entry(LlmModelSpec spec, Task<ILlmEngine> loading)
    {
        public LlmModelSpec Spec { get; } = spec;

        public Task<ILlmEngine> Loading { get; } = loading;

        public int Active { get; set; }

        public DateTimeOffset IdleSince { get; set; }

        public TimeSpan KeepAlive { get; set; }
    }
}

/// <summary>A request's hold on a loaded engine; the engine is not unloaded until every lease is disposed.</summary>
public sealed class LlmEngineLease : IDisposable
{
    private readonly LlmEngineManager _manager;
    private readonly LlmEngineManager.Entry _entry;
    private int _disposed;

    internal LlmEngineLease(LlmEngineManager manager, LlmEngineManager.Entry entry, ILlmEngine engine)
    {
        _manager = manager;
        _entry = entry;
        Engine = engine;
    }

    /// <summary>The engine.</summary>
    public ILlmEngine Engine { get; }

    /// <inheritdoc />
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            _manager.Release(_entry);
        }
    }
}
