using Maas.Core.Llm;

namespace Maas.Runtimes.Llama.Serving;

/// <summary>Pooled embeddings on a context of their own (embeddings on, mean pooling for generative models), one call at a time.</summary>
internal sealed class LlamaEmbedder : IAsyncDisposable
{
    private readonly LlamaModel _model;
    private readonly int _contextSize;
    private readonly int _threads;
    private readonly SemaphoreSlim _lock = new(1, 1);
    private LlamaContext? _context;

    public LlamaEmbedder(LlamaModel model, int contextSize, int threads)
    {
        _model = model;
        _contextSize = contextSize;
        _threads = threads;
    }

    /// <summary>One vector per input, L2-normalised when asked; the context is created on first use.</summary>
    public async Task<IReadOnlyList<float[]>> EmbedAsync(IReadOnlyList<IReadOnlyList<int>> inputs, bool normalize, CancellationToken cancellationToken)
    {
        await _lock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            return await Task.Run(() => Embed(inputs, normalize, cancellationToken), cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _lock.Release();
        }
    }

    /// <summary>Waits for a running call, then frees the context.</summary>
    public async ValueTask DisposeAsync()
    {
        await _lock.WaitAsync().ConfigureAwait(false);
        _context?.Dispose();
        _lock.Dispose();
    }

    // One batch of several inputs at a time.
    private IReadOnlyList<float[]> Embed(IReadOnlyList<IReadOnlyList<int>> inputs, bool normalize, CancellationToken cancellationToken)
    {
        var context = _context ??= CreateContext();
        var results = new float[inputs.Count][];
        using var batch = new LlamaBatch(context.BatchSize);
        var next = 0;
        while (next < inputs.Count)
        {
            batch.Clear();
            var first = next;
            var sequences = 0;
            while (next < inputs.Count && sequences < context.SequenceCount && batch.Count + inputs[next].Count <= batch.Capacity)
            {
                var tokens = inputs[next];
                if (tokens.Count == 0)
                {
                    throw LlmException.Invalid($"input {next} has no tokens", "input");
                }

                for (var i = 0; i < tokens.Count; i++)
                {
                    batch.Add(tokens[i], i, sequences, output: true);
                }

                next++;
                sequences++;
            }

            if (sequences == 0)
            {
                throw new LlmException(LlmErrorKind.ContextOverflow, $"input {next} has {inputs[next].Count} tokens; embeddings take at most {batch.Capacity}", "input",
                    "context_length_exceeded");
            }

            try
            {
                if (_model.HasEncoder && !_model.HasDecoder)
                {
                    context.Encode(batch, cancellationToken);
                }
                else
                {
                    context.Decode(batch, cancellationToken);
                }

                for (var s = 0; s < sequences; s++)
                {
                    var vector = context.GetSequenceEmbeddings(s);
                    results[first + s] = normalize ? Normalize(vector) : vector;
                }
            }
            finally
            {
                context.Memory.Clear();
            }
        }

        return results;
    }

    private LlamaContext CreateContext()
    {
        var size = (uint)Math.Max(_contextSize, 512);
        var options = new LlamaContextOptions
        {
            ContextSize = size,
            BatchSize = size,
            MicroBatchSize = size,
            SequenceCount = (uint)Math.Min(16, LlamaBackend.MaxParallelSequences),
            Threads = _threads,
            BatchThreads = _threads,
            Embeddings = true,
            UnifiedKvCache = true,
        };
        var context = _model.CreateContext(options);
        if (context.PoolingType == LlamaPoolingType.None)
        {
            // A generative model pools nothing by default; mean pooling gives one vector per input.
            context.Dispose();
            context = _model.CreateContext(options with { PoolingType = LlamaPoolingType.Mean });
        }

        return context;
    }

    private static float[] Normalize(float[] vector)
    {
        double sum = 0;
        foreach (var v in vector)
        {
            sum += (double)v * v;
        }

        if (sum > 0)
        {
            var scale = (float)(1 / Math.Sqrt(sum));
            for (var i = 0; i < vector.Length; i++)
            {
                vector[i] *= scale;
            }
        }

        return vector;
    }
}
