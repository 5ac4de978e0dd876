using Maas.Runtimes.Llama.Native;

namespace Maas.Runtimes.Llama;

/// <summary>
/// An importance matrix for quantisation: per layer weight ("blk.*"), the mean square of each input column's
/// activation over a calibration text, so the quantiser spends its precision on the columns that carry signal.
/// Gathered by running the model over the text with ggml's eval callback, as llama.cpp's imatrix tool does.
/// </summary>
public sealed class LlamaImportanceMatrix
{
    private LlamaImportanceMatrix(IReadOnlyDictionary<string, float[]> entries, int tokens, int chunks)
    {
        Entries = entries;
        Tokens = tokens;
        Chunks = chunks;
    }

    /// <summary>Per weight name, one value per input column (the weight's first dimension).</summary>
    public IReadOnlyDictionary<string, float[]> Entries { get; }

    /// <summary>Tokens of the text evaluated.</summary>
    public int Tokens { get; }

    /// <summary>Chunks the text was evaluated in (each from an empty cache).</summary>
    public int Chunks { get; }

    /// <summary>
    /// Runs the model at <paramref name="modelPath"/> over <paramref name="text"/> (its first <paramref name="maxTokens"/>
    /// tokens) in chunks of up to <paramref name="chunkTokens"/> tokens, each from an empty cache, and returns the mean
    /// squared activations.
    /// </summary>
    /// <exception cref="LlamaException">llama.cpp failed to load or run the model, or gathered nothing.</exception>
    /// <exception cref="ArgumentException">The text is shorter than two tokens.</exception>
    public static LlamaImportanceMatrix Compute(string modelPath, string text, int threads, int chunkTokens = 256, int maxTokens = int.MaxValue,
        CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(chunkTokens, 2);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxTokens, 2);
        using var model = LlamaModel.Load(modelPath, cancellationToken: cancellationToken);
        var tokens = model.Tokenizer.Tokenize(text, addSpecial: false);
        tokens = tokens.Length > maxTokens ? tokens[..maxTokens] : tokens;
        if (tokens.Length < 2)
        {
            throw new ArgumentException("the calibration text is shorter than two tokens", nameof(text));
        }

        var bos = model.Tokenizer.AddsBos ? model.Tokenizer.Bos : null;
        var chunk = Math.Min(chunkTokens, tokens.Length + 1);
        using var collector = new ImportanceCollector();
        using var context = model.CreateContext(new LlamaContextOptions
        {
            ContextSize = (uint)chunk,
            BatchSize = (uint)chunk,
            MicroBatchSize = (uint)chunk,
            SequenceCount = 1,
            Threads = threads,
            BatchThreads = threads,
            EvalCallback = ImportanceCollector.Callback,
            EvalCallbackData = collector.UserData,
        });
        using var batch = new LlamaBatch(chunk);
        var chunks = 0;
        var evaluated = 0;

        // Each chunk starts with BOS (where the vocabulary has one) and runs from an empty cache, as a prompt would.
        var perChunk = bos is null ? chunk : chunk - 1;
        for (var start = 0; start < tokens.Length; start += perChunk)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var piece = tokens.AsSpan(start, Math.Min(perChunk, tokens.Length - start));
            context.Memory.Clear();
            batch.Clear();
            var position = 0;
            if (bos is { } b)
            {
                batch.Add(b, position++, 0, output: false);
            }

            // Only the last token's logits are asked for: the activations are what is gathered.
            for (var k = 0; k < piece.Length; k++)
            {
                batch.Add(piece[k], position++, 0, output: k == piece.Length - 1);
            }

            try
            {
                context.Decode(batch, cancellationToken);
            }
            catch (LlamaException) when (collector.Error is not null)
            {
                throw new LlamaException($"gathering the importance matrix failed: {collector.Error.Message}");
            }

            chunks++;
            evaluated += piece.Length;
        }

        if (collector.Entries.Count == 0)
        {
            throw new LlamaException("the model ran without a matrix multiplication of a layer weight (blk.*) by float activations; no importance matrix could be gathered");
        }

        var entries = collector.Entries.ToDictionary(
            kv => kv.Key,
            kv => kv.Value.Sums.Select(s => kv.Value.Rows > 0 ? (float)(s / kv.Value.Rows) : 1f).ToArray(),
            StringComparer.Ordinal);
        return new LlamaImportanceMatrix(entries, evaluated, chunks);
    }

    /// <summary>The entries as llama.cpp's array (terminated by a null name), alive until the returned handle is disposed.</summary>
    internal PinnedImatrix Pin() => new(Entries);
}
