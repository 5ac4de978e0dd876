using Maas.Core.Hosting;

namespace Maas.Server.Health;

/// <summary>
/// Readiness of the models marked load-at-start (<c>load_at_start</c> in a model's serving configuration): not ready
/// until each start-up loader has listed them and every one has loaded, naming those still loading or failed.
/// </summary>
/// <remarks>
/// The set is the one the server found at start (as Triton's strict readiness): a model marked later loads on its
/// first request and never holds readiness back. A model counts once it has loaded; unloading it later (keep-alive,
/// an operator) does not make the server unready. A load that failed keeps readiness false until the model loads
/// (through the load API or a request).
/// </remarks>
public sealed class MustLoadModels : IReadinessCheck
{
    private readonly Lock _lock = new();
    private readonly List<Loader> _loaders = [];

    /// <inheritdoc />
    public string Name => "models";

    /// <summary>Registers a start-up loader (call before the host has started); readiness waits for its list.</summary>
    public Loader Begin(string engine)
    {
        var loader = new Loader(engine);
        lock (_lock)
        {
            _loaders.Add(loader);
        }

        return loader;
    }

    /// <inheritdoc />
    public Task<string?> CheckAsync(CancellationToken cancellationToken)
    {
        Loader[] loaders;
        lock (_lock)
        {
            loaders = [.. _loaders];
        }

        var problems = new List<string>();
        foreach (var loader in loaders)
        {
            loader.Describe(problems);
        }

        return Task.FromResult(problems.Count == 0 ? null : string.Join("; ", problems));
    }

    /// <summary>One engine's start-up loads (ONNX, LLM).</summary>
    public sealed class Loader(string engine)
    {
        private readonly Lock _lock = new();
        private List<Entry>? _expected;
        private string? _listingProblem;

        /// <summary>The models this loader will load; <paramref name="isLoaded"/> tells whether one is loaded now.</summary>
        public void Expect(IEnumerable<string> models, Func<string, bool> isLoaded)
        {
            lock (_lock)
            {
                _expected = models.Select(m => new Entry(m, isLoaded)).ToList();
            }
        }

        /// <summary>The listing itself failed: readiness reports why.</summary>
        public void ListingFailed(string reason)
        {
            lock (_lock)
            {
                _listingProblem = reason;
            }
        }

        /// <summary>Records a model that loaded (it counts from now on, even if it unloads again).</summary>
        public void Loaded(string model)
        {
            lock (_lock)
            {
                if (_expected?.Find(e => e.Model == model) is { } entry)
                {
                    entry.Done = true;
                }
            }
        }

        /// <summary>Records a load that failed (cleared when the model loads later).</summary>
        public void Failed(string model, string reason)
        {
            lock (_lock)
            {
                if (_expected?.Find(e => e.Model == model) is { } entry)
                {
                    entry.Failure = reason;
                }
            }
        }

        internal void Describe(List<string> problems)
        {
            lock (_lock)
            {
                if (_expected is null)
                {
                    problems.Add(_listingProblem is { } why
                        ? $"{engine}: listing the models to load at start failed: {why}"
                        : $"{engine}: listing the models to load at start");
                    return;
                }

                var loading = new List<string>();
                foreach (var entry in _expected)
                {
                    if (entry.Done)
                    {
                        continue;
                    }

                    if (entry.IsLoaded(entry.Model))
                    {
                        entry.Done = true; // counted once loaded, whatever happens to it later
                    }
                    else if (entry.Failure is { } failure)
                    {
                        problems.Add($"{engine} model {entry.Model} failed to load: {failure}");
                    }
                    else
                    {
                        loading.Add(entry.Model);
                    }
                }

                if (loading.Count > 0)
                {
                    problems.Add($"{engine} models loading at start: {string.Join(", ", loading)}");
                }
            }
        }

        private sealed class Entry(string model, Func<string, bool> isLoaded)
        {
            public string Model { get; } = model;

            public Func<string, bool> IsLoaded { get; } = isLoaded;

            public string? Failure { get; set; }

            public bool Done { get; set; }
        }
    }
}
