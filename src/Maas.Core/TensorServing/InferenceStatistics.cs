using System.Collections.Concurrent;

namespace Maas.Core.TensorServing;

/// <summary>Cumulative, lock-free counters for one model version (they survive unload and reload).</summary>
public sealed class InferenceStatistics
{
    /// <summary>
    /// The most batch sizes counted apart (<c>batch_stats</c>): a model without batching runs each request as it came,
    /// so its sizes are whatever callers send; executions of further sizes count in the totals only.
    /// </summary>
    public const int MaxBatchSizes = 1024;

    private readonly ConcurrentDictionary<long, BatchCounters> _batches = new();
    private int _batchSizes;
    private long _lastInference;
    private long _inferenceCount;
    private long _executionCount;
    private Counter _success;
    private Counter _fail;
    private Counter _queue;
    private Counter _input;
    private Counter _infer;
    private Counter _output;

    /// <summary>Records one execution of <paramref name="batchSize"/> rows that served <paramref name="requests"/> requests.</summary>
    public void RecordExecution(long batchSize, int requests, long inputNs, long inferNs, long outputNs)
    {
        Interlocked.Increment(ref _executionCount);
        if (_batches.TryGetValue(batchSize, out var b) || Volatile.Read(ref _batchSizes) < MaxBatchSizes)
        {
            b ??= _batches.GetOrAdd(batchSize, static (_, self) =>
            {
                Interlocked.Increment(ref self._batchSizes); // may run twice for one size in a race: the cap is a bound, not exact
                return new BatchCounters();
            }, this);
            b.Input.Add(1, inputNs);
            b.Infer.Add(1, inferNs);
            b.Output.Add(1, outputNs);
        }

        // As in Triton, every request in the batch is charged the batch's compute time.
        _input.Add(requests, inputNs * requests);
        _infer.Add(requests, inferNs * requests);
        _output.Add(requests, outputNs * requests);
    }

    /// <summary>Records a request that completed with <paramref name="rows"/> inferences.</summary>
    public void RecordSuccess(long rows, long totalNs, long queueNs)
    {
        Interlocked.Add(ref _inferenceCount, rows);
        _success.Add(1, totalNs);
        _queue.Add(1, queueNs);
        Volatile.Write(ref _lastInference, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
    }

    /// <summary>Records a request that failed after it was accepted.</summary>
    public void RecordFailure(long totalNs)
    {
        _fail.Add(1, totalNs);
        Volatile.Write(ref _lastInference, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
    }

    /// <summary>Batch sizes counted apart now.</summary>
    internal int BatchSizeCount => _batches.Count;

    /// <summary>Copies the counters.</summary>
    public ModelStatisticsSnapshot Snapshot(string name, string version) => new(
        name,
        version,
        Volatile.Read(ref _lastInference),
        Volatile.Read(ref _inferenceCount),
        Volatile.Read(ref _executionCount),
        _success.Read(),
        _fail.Read(),
        _queue.Read(),
        _input.Read(),
        _infer.Read(),
        _output.Read(),
        _batches.OrderBy(kv => kv.Key)
            .Select(kv => new BatchStat(kv.Key, kv.Value.Input.Read(), kv.Value.Infer.Read(), kv.Value.Output.Read()))
            .ToArray());

    private struct Counter
    {
        private long _count;
        private long _ns;

        public void Add(long count, long ns)
        {
            Interlocked.Add(ref _count, count);
            Interlocked.Add(ref _ns, ns);
        }

        public DurationStat Read() => new(Volatile.Read(ref _count), Volatile.Read(ref _ns));
    }

    private sealed class BatchCounters
    {
        public Counter Input;
        public Counter Infer;
        public Counter Output;
    }
}
