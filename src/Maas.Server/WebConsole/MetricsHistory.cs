using Maas.Server.Observability;
using Microsoft.Extensions.Options;

namespace Maas.Server.WebConsole;

/// <summary>
/// Reads the server's own /metrics output every few seconds and keeps an hour (configurable) of derived points in a
/// ring buffer, so the console's charts show the past hour even after a page reload.
/// </summary>
/// <remarks>Counters become rates and histogram buckets become percentiles from the difference of two scrapes.</remarks>
public sealed class MetricsHistory : BackgroundService
{
    private const string RequestHistogram = "maas_request_duration_seconds";
    private readonly PrometheusExporter? _exporter;
    private readonly TimeProvider _time;
    private readonly ConsoleOptions _options;
    private readonly MetricsPoint?[] _ring;
    private readonly Lock _lock = new();
    private int _next;
    private int _count;
    private Snapshot? _last;

    /// <summary>Creates the history; without an exporter (metrics switched off) it stays empty.</summary>
    public MetricsHistory(TimeProvider time, IOptions<ConsoleOptions> options, PrometheusExporter? exporter = null)
    {
        _exporter = exporter;
        _time = time;
        _options = options.Value;
        _ring = new MetricsPoint?[Math.Max(1, _options.HistorySeconds / _options.SampleSeconds)];
    }

    /// <summary>True when the server records metrics (Maas:Observability:Metrics).</summary>
    public bool Enabled => _exporter is not null;

    /// <summary>Seconds between points.</summary>
    public int IntervalSeconds => _options.SampleSeconds;

    /// <summary>Seconds of history kept.</summary>
    public int HistorySeconds => _options.HistorySeconds;

    /// <summary>The points, oldest first.</summary>
    public IReadOnlyList<MetricsPoint> Points()
    {
        lock (_lock)
        {
            var points = new List<MetricsPoint>(_count);
            var start = (_next - _count + _ring.Length) % _ring.Length;
            for (var i = 0; i < _count; i++)
            {
                points.Add(_ring[(start + i) % _ring.Length]!);
            }

            return points;
        }
    }

    /// <summary>Takes one sample now (the timer calls this; tests may too).</summary>
    public void Sample()
    {
        if (_exporter is null)
        {
            return;
        }

        var now = _time.GetUtcNow();
        var snapshot = Snapshot.Read(_exporter.Scrape(), now);
        lock (_lock)
        {
            if (_last is { } last && now > last.At)
            {
                _ring[_next] = snapshot.Since(last);
                _next = (_next + 1) % _ring.Length;
                _count = Math.Min(_count + 1, _ring.Length);
            }

            _last = snapshot;
        }
    }

    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (_exporter is null)
        {
            return;
        }

        Sample();
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(_options.SampleSeconds), _time);
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            Sample();
        }
    }

    /// <summary>Cumulative values of one scope (server or model) at one scrape.</summary>
    private sealed class Totals
    {
        public double Requests;
        public readonly SortedDictionary<double, double> Buckets = [];
        public double Tokens;
        public double Queue;
        public double Loaded;

        // A model's accounted memory (what the memory budget charges), summed over its loaded versions; null when none is loaded.
        public double? Memory;
    }

    private sealed class Snapshot
    {
        public DateTimeOffset At;
        public readonly Totals Server = new();
        public readonly Dictionary<string, Totals> Models = new(StringComparer.Ordinal);
        public double? Memory;

        private Totals Model(string name)
        {
            if (!Models.TryGetValue(name, out var totals))
            {
                Models[name] = totals = new Totals();
            }

            return totals;
        }

        public static Snapshot Read(string text, DateTimeOffset at)
        {
            var snapshot = new Snapshot { At = at };
            var samples = PrometheusText.Parse(text, name => name.StartsWith("maas_", StringComparison.Ordinal) || name == "dotnet_process_memory_working_set_bytes");
            foreach (var s in samples)
            {
                var model = s.Label("model");
                var scopes = model.Length == 0 ? [snapshot.Server] : new[] { snapshot.Server, snapshot.Model(model) };
                switch (s.Name)
                {
                    case RequestHistogram + "_count":
                        foreach (var t in scopes)
                        {
                            t.Requests += s.Value;
                        }

                        break;
                    case RequestHistogram + "_bucket":
                        var le = s.Label("le") is "+Inf" ? double.PositiveInfinity
                            : double.TryParse(s.Label("le"), System.Globalization.CultureInfo.InvariantCulture, out var bound) ? bound : double.NaN;
                        if (!double.IsNaN(le))
                        {
                            foreach (var t in scopes)
                            {
                                t.Buckets[le] = t.Buckets.GetValueOrDefault(le) + s.Value;
                            }
                        }

                        break;
                    case "maas_llm_generated_tokens_total":
                        foreach (var t in scopes)
                        {
                            t.Tokens += s.Value;
                        }

                        break;
                    case "maas_inference_active_requests" or "maas_llm_waiting_requests":
                        foreach (var t in scopes)
                        {
                            t.Queue += s.Value;
                        }

                        break;
                    case "maas_model_instances" when model.Length > 0:
                        snapshot.Model(model).Loaded += s.Value;
                        break;
                    case "maas_model_memory_bytes" when model.Length > 0 && s.Label("kind") == "accounted":
                        var totals = snapshot.Model(model);
                        totals.Memory = (totals.Memory ?? 0) + s.Value;
                        break;
                    case "maas_models_loaded":
                        snapshot.Server.Loaded += s.Value;
                        break;
                    case "dotnet_process_memory_working_set_bytes":
                        snapshot.Memory = s.Value;
                        break;
                }
            }

            snapshot.Memory ??= Environment.WorkingSet;
            return snapshot;
        }

        public MetricsPoint Since(Snapshot before)
        {
            var seconds = (At - before.At).TotalSeconds;
            var models = new Dictionary<string, MetricsStats>(StringComparer.Ordinal);
            foreach (var (name, totals) in Models)
            {
                models[name] = Stats(totals, before.Models.GetValueOrDefault(name), seconds, totals.Memory);
            }

            return new MetricsPoint(At, Stats(Server, before.Server, seconds, Memory), models);
        }

        private static MetricsStats Stats(Totals now, Totals? before, double seconds, double? memory)
        {
            var buckets = new List<(double Le, double Count)>(now.Buckets.Count);
            foreach (var (le, count) in now.Buckets)
            {
                buckets.Add((le, Delta(count, before?.Buckets.GetValueOrDefault(le))));
            }

            return new MetricsStats(
                Delta(now.Requests, before?.Requests) / seconds,
                Quantile(buckets, 0.50),
                Quantile(buckets, 0.95),
                Quantile(buckets, 0.99),
                Delta(now.Tokens, before?.Tokens) / seconds,
                now.Queue,
                now.Loaded,
                memory);
        }

        // A counter that went down was reset (a restart of its instrument): count from zero.
        private static double Delta(double now, double? before) => before is { } b && now >= b ? now - b : now;
    }

    /// <summary>
    /// The <paramref name="q"/> quantile in milliseconds of cumulative bucket counts (ascending bounds in seconds), by
    /// linear interpolation inside the bucket as Prometheus' histogram_quantile does; null with no observations.
    /// </summary>
    public static double? Quantile(IReadOnlyList<(double Le, double Count)> buckets, double q)
    {
        if (buckets.Count == 0 || buckets[^1].Count <= 0)
        {
            return null;
        }

        var rank = q * buckets[^1].Count;
        var lowerBound = 0.0;
        var lowerCount = 0.0;
        foreach (var (le, count) in buckets)
        {
            if (count >= rank)
            {
                if (double.IsPositiveInfinity(le))
                {
                    return lowerBound * 1000;
                }

                var inBucket = count - lowerCount;
                var share = inBucket <= 0 ? 1 : (rank - lowerCount) / inBucket;
                return (lowerBound + ((le - lowerBound) * share)) * 1000;
            }

            lowerBound = le;
            lowerCount = count;
        }

        return lowerBound * 1000;
    }
}
