namespace Maas.Core.Llm;

/// <summary>A bounded FIFO of requests waiting for a slot; full means the caller gets 429 at once, not a timeout.</summary>
/// <remarks>Thread-safe. Waiting requests whose caller went away are removed, so they never take a slot.</remarks>
public sealed class LlmRequestQueue<T>
    where T : class
{
    private readonly LinkedList<T> _items = new();
    private readonly object _lock = new();

    /// <summary>Creates a queue that holds at most <paramref name="limit"/> waiting requests.</summary>
    public LlmRequestQueue(int limit)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(limit);
        Limit = limit;
    }

    /// <summary>The most requests that may wait.</summary>
    public int Limit { get; }

    /// <summary>Requests waiting now.</summary>
    public int Count
    {
        get
        {
            lock (_lock)
            {
                return _items.Count;
            }
        }
    }

    /// <summary>
    /// Adds a request, or throws <see cref="LlmException"/> (queue full) when <see cref="Limit"/> are already waiting
    /// beyond the <paramref name="freeSlots"/> that will take queued requests at the next step.
    /// </summary>
    public void Enqueue(T item, int freeSlots = 0) => EnqueueAll([item], freeSlots);

    /// <summary>
    /// Adds requests that belong together (the n choices of one call) in one step, so a reader takes them at the same
    /// time; all or none: throws <see cref="LlmException"/> (queue full) when they would not all fit.
    /// </summary>
    public void EnqueueAll(IReadOnlyList<T> items, int freeSlots = 0)
    {
        ArgumentNullException.ThrowIfNull(items);
        lock (_lock)
        {
            if (_items.Count + items.Count > Limit + Math.Max(0, freeSlots))
            {
                throw new LlmException(
                    LlmErrorKind.QueueFull,
                    $"the model's request queue is full ({Limit} requests waiting for a free slot); retry later",
                    code: "queue_full")
                {
                    RetryAfter = TimeSpan.FromSeconds(1),
                };
            }

            foreach (var item in items)
            {
                _items.AddLast(item);
            }
        }
    }

    /// <summary>Takes the oldest waiting request, if any.</summary>
    public bool TryDequeue(out T? item)
    {
        lock (_lock)
        {
            if (_items.First is { } first)
            {
                item = first.Value;
                _items.RemoveFirst();
                return true;
            }

            item = null;
            return false;
        }
    }

    /// <summary>Removes a waiting request (its caller went away); false when it already left the queue.</summary>
    public bool Remove(T item)
    {
        lock (_lock)
        {
            return _items.Remove(item);
        }
    }

    /// <summary>Takes every waiting request (shutdown).</summary>
    public IReadOnlyList<T> DrainAll()
    {
        lock (_lock)
        {
            var all = _items.ToArray();
            _items.Clear();
            return all;
        }
    }
}
