using System.Collections.Concurrent;

namespace Maas.Core.Deployments;

/// <summary>
/// Per-deployment, per-version counters of this server: requests, errors, latency, and output comparisons. A window
/// is keyed by the deployment's model and the start of its current step, so a new step (or a rollback) starts clean.
/// </summary>
public sealed class DeploymentMetrics
{
    // Latency samples kept per version and window: enough for a p99, bounded in memory.
    private const int LatencySamples = 4096;

    private readonly ConcurrentDictionary<(string Model, long Window, int Version), Counters> _counters = new();

    /// <summary>Raised for every counted request (model, version, latency in ms, failed, a shadow's copy), for the exported metrics.</summary>
    public event Action<string, int, double, bool, bool>? RequestRecorded;

    /// <summary>Raised for every comparison (model, version, the difference).</summary>
    public event Action<string, int, OutputDifference>? ComparisonRecorded;

    /// <summary>Raised for every dropped copy (model, version).</summary>
    public event Action<string, int>? DroppedRecorded;

    /// <summary>Raised when this server rolled a deployment back (model, the version that lost its traffic).</summary>
    public event Action<string, int>? RollbackRecorded;

    /// <summary>Counts one answered request (<paramref name="shadow"/>: a shadow version's run of a copy).</summary>
    public void RecordRequest(string model, DateTimeOffset window, int version, double latencyMs, bool failed, bool shadow = false)
    {
        RequestRecorded?.Invoke(model, version, latencyMs, failed, shadow);
        var c = Get(model, window, version);
        lock (c)
        {
            c.Requests++;
            if (failed)
            {
                c.Errors++;
            }

            c.Latencies[(int)(c.LatencyCount++ % LatencySamples)] = latencyMs;
        }
    }

    /// <summary>Counts one comparison of <paramref name="version"/>'s answer with the reference's.</summary>
    public void RecordComparison(string model, DateTimeOffset window, int version, OutputDifference difference)
    {
        ComparisonRecorded?.Invoke(model, version, difference);
        var c = Get(model, window, version);
        lock (c)
        {
            c.Comparisons++;
            if (difference.ExactMatch)
            {
                c.ExactMatches++;
            }

            c.MaxAbs = Math.Max(c.MaxAbs, difference.MaxAbsError);
            c.MaxRel = Math.Max(c.MaxRel, difference.MaxRelError);
        }
    }

    /// <summary>Counts a copy that was dropped (queue full).</summary>
    public void RecordDropped(string model, DateTimeOffset window, int version)
    {
        DroppedRecorded?.Invoke(model, version);
        var c = Get(model, window, version);
        lock (c)
        {
            c.Dropped++;
        }
    }

    /// <summary>Notes a rollback this server decided (counted once over all servers: only one wins the compare-and-set).</summary>
    public void RecordRollback(string model, int version) => RollbackRecorded?.Invoke(model, version);

    /// <summary>The window of <paramref name="version"/>, or an empty one.</summary>
    public VersionWindow Window(string model, DateTimeOffset window, int version)
    {
        if (!_counters.TryGetValue((model, window.UtcTicks, version), out var c))
        {
            return new VersionWindow { Version = version };
        }

        lock (c)
        {
            var n = (int)Math.Min(c.LatencyCount, LatencySamples);
            double p99 = 0;
            if (n > 0)
            {
                var sorted = c.Latencies.AsSpan(0, n).ToArray();
                Array.Sort(sorted);
                p99 = sorted[Math.Min(n - 1, (int)Math.Ceiling(0.99 * n) - 1)];
            }

            return new VersionWindow
            {
                Version = version,
                Requests = c.Requests,
                Errors = c.Errors,
                P99Ms = p99,
                Comparisons = c.Comparisons,
                ExactMatches = c.ExactMatches,
                MaxAbsError = c.MaxAbs,
                MaxRelError = c.MaxRel,
                Dropped = c.Dropped,
            };
        }
    }

    /// <summary>Drops every window of <paramref name="model"/> but the current one (called when a step changes or the deployment goes).</summary>
    public void Forget(string model, DateTimeOffset? keep)
    {
        foreach (var key in _counters.Keys)
        {
            if (key.Model == model && (keep is null || key.Window != keep.Value.UtcTicks))
            {
                _counters.TryRemove(key, out _);
            }
        }
    }

    /// <summary>
    /// Drops the windows of models without a deployment in <paramref name="current"/> and those older than their
    /// deployment's current step: a call that ends after its deployment went (or moved on a step) records into a window
    /// nothing reads again. Run on the deployment poll, not per request.
    /// </summary>
    public void Prune(IReadOnlyDictionary<string, Deployment> current)
    {
        foreach (var entry in _counters)
        {
            var (model, window, _) = entry.Key;
            if (!current.TryGetValue(model, out var deployment) || window < deployment.StepStartedAt.UtcTicks)
            {
                _counters.TryRemove(entry);
            }
        }
    }

    /// <summary>Windows kept now, over every deployment and version (tests check that it returns to its start).</summary>
    internal int WindowCount => _counters.Count;

    private Counters Get(string model, DateTimeOffset window, int version) => _counters.GetOrAdd((model, window.UtcTicks, version), _ => new Counters());

    private sealed class Counters
    {
        public long Requests;
        public long Errors;
        public long LatencyCount;
        public long Comparisons;
        public long ExactMatches;
        public long Dropped;
        public double MaxAbs;
        public double MaxRel;
        public readonly double[] Latencies = new double[LatencySamples];
    }
}
