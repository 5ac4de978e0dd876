using System.Globalization;

namespace Maas.Core.Llm;

/// <summary>
/// The line in front of one engine's embedder: it embeds one call at a time, so one call runs, at most
/// <see cref="Limit"/> wait behind it (first come, first served) and each waits at most <see cref="Timeout"/>.
/// </summary>
/// <remarks>
/// Thread-safe. A caller that is refused or gives up never takes a turn: a full line answers at once (429), a wait
/// past the timeout ends in <see cref="LlmErrorKind.Timeout"/>, and a cancelled wait leaves the line.
/// </remarks>
public sealed class EmbeddingQueue
{
    private readonly SemaphoreSlim _turn = new(1, 1);
    private int _inLine;
    private int _running;

    /// <summary>Creates a line that holds at most <paramref name="limit"/> waiting calls, each for at most <paramref name="timeout"/>.</summary>
    public EmbeddingQueue(int limit, TimeSpan timeout)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(limit);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(timeout, TimeSpan.Zero);
        Limit = limit;
        Timeout = timeout;
    }

    /// <summary>The most calls that may wait behind the running one.</summary>
    public int Limit { get; }

    /// <summary>The longest a call may wait for its turn.</summary>
    public TimeSpan Timeout { get; }

    /// <summary>Calls embedding now (0 or 1).</summary>
    public int Running => Volatile.Read(ref _running);

    /// <summary>Calls waiting for their turn now.</summary>
    public int Waiting => Math.Max(0, Volatile.Read(ref _inLine) - Running);

    /// <summary>
    /// Waits for the embedder; dispose the result when the call is done. <paramref name="model"/> names the model in
    /// the refusals as the caller named it.
    /// </summary>
    /// <exception cref="LlmException">The line is full (queue full, 429) or the wait passed <see cref="Timeout"/> (timeout).</exception>
    /// <exception cref="OperationCanceledException">The caller went away while waiting; it left the line.</exception>
    public async Task<IDisposable> EnterAsync(string model, CancellationToken cancellationToken)
    {
        // Everyone in line counts, the running call too: beyond it, at most Limit.
        if (Interlocked.Increment(ref _inLine) > Limit + 1)
        {
            Interlocked.Decrement(ref _inLine);
            throw new LlmException(
                LlmErrorKind.QueueFull,
                $"model '{model}' has {Limit} embeddings requests waiting behind the one it is computing, the most allowed ({Limit}: the model's embedding_queue_limit, else " +
                $"Maas:Llm:EmbeddingQueueLimit); retry later",
                code: "queue_full")
            {
                RetryAfter = TimeSpan.FromSeconds(1),
            };
        }

        bool entered;
        try
        {
            entered = await _turn.WaitAsync(Timeout, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            Interlocked.Decrement(ref _inLine);
            throw;
        }

        if (!entered)
        {
            Interlocked.Decrement(ref _inLine);
            var ms = Timeout.TotalMilliseconds.ToString("0", CultureInfo.InvariantCulture);
            throw new LlmException(
                LlmErrorKind.Timeout,
                $"the request waited {ms} ms for model '{model}' to finish the embeddings requests ahead of it, the longest allowed ({ms} ms: the model's " +
                $"embedding_queue_timeout_ms, else Maas:Llm:EmbeddingQueueTimeoutMs), and was dropped; retry later",
                code: "queue_timeout")
            {
                RetryAfter = TimeSpan.FromSeconds(1),
            };
        }

        Volatile.Write(ref _running, 1);
        return new Turn(this);
    }

    private void Leave()
    {
        Volatile.Write(ref _running, 0);
        Interlocked.Decrement(ref _inLine);
        _turn.Release();
    }

    private sealed class Turn(EmbeddingQueue queue) : IDisposable
    {
        private int _done;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _done, 1) == 0)
            {
                queue.Leave();
            }
        }
    }
}
