using Maas.Runtimes.Llama.Native;

namespace Maas.Runtimes.Llama;

/// <summary>The input of one llama_decode: tokens with positions, the sequences each belongs to, and which rows produce output.</summary>
/// <remarks>
/// One batch can carry tokens of several sequences (continuous batching: a generation step for each running sequence
/// plus a chunk of a new prompt). After decoding, entry i's logits are <see cref="LlamaContext.GetLogits(int)"/> with i.
/// Reuse a batch across steps with <see cref="Clear"/>. Not thread-safe.
/// </remarks>
public sealed class LlamaBatch : IDisposable
{
    private readonly SafeLlamaBatchHandle handle;

    /// <summary>Allocates room for <paramref name="capacity"/> tokens, each in up to <paramref name="maxSequencesPerToken"/> sequences.</summary>
    public LlamaBatch(int capacity, int maxSequencesPerToken = 1)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxSequencesPerToken, 1);
        LlamaBackend.EnsureInitialized();
        handle = SafeLlamaBatchHandle.Create(capacity, maxSequencesPerToken);
    }

    /// <summary>Most tokens the batch holds.</summary>
    public int Capacity => handle.Capacity;

    /// <summary>Tokens added so far.</summary>
    public int Count => handle.Count;

    /// <summary>Entries marked to produce logits/embeddings.</summary>
    public int OutputCount { get; private set; }

    internal SafeLlamaBatchHandle Handle => handle;

    /// <summary>Adds a token of one sequence; returns its index in the batch (the index to read its logits with).</summary>
    public int Add(int token, int position, int sequence, bool output = false)
    {
        Span<int> one = [sequence];
        return Add(token, position, one, output);
    }

    /// <summary>Adds a token shared by several sequences (e.g. a common prompt prefix); returns its index.</summary>
    public int Add(int token, int position, ReadOnlySpan<int> sequences, bool output = false)
    {
        var index = handle.Count;
        if (index >= handle.Capacity)
        {
            throw new InvalidOperationException($"the batch is full ({handle.Capacity} tokens)");
        }

        if (sequences.IsEmpty || sequences.Length > handle.MaxSequencesPerToken)
        {
            throw new ArgumentException($"a token belongs to 1 to {handle.MaxSequencesPerToken} sequences in this batch", nameof(sequences));
        }

        ArgumentOutOfRangeException.ThrowIfNegative(position);
        foreach (var s in sequences)
        {
            ArgumentOutOfRangeException.ThrowIfNegative(s, nameof(sequences));
        }

        handle.Set(index, token, position, sequences, output);
        handle.Count = index + 1;
        if (output)
        {
            OutputCount++;
        }

        return index;
    }

    /// <summary>Adds consecutive tokens of one sequence from <paramref name="firstPosition"/>; the last one outputs when <paramref name="outputLast"/>.</summary>
    /// <returns>The index of the last token added.</returns>
    public int AddRange(ReadOnlySpan<int> tokens, int firstPosition, int sequence, bool outputLast = true)
    {
        if (tokens.Length > handle.Capacity - handle.Count)
        {
            throw new InvalidOperationException($"{tokens.Length} tokens do not fit: the batch holds {handle.Count} of {handle.Capacity}");
        }

        var last = -1;
        for (var i = 0; i < tokens.Length; i++)
        {
            last = Add(tokens[i], firstPosition + i, sequence, outputLast && i == tokens.Length - 1);
        }

        return last;
    }

    /// <summary>Marks or unmarks entry <paramref name="index"/> as producing output.</summary>
    public void SetOutput(int index, bool output)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(index, handle.Count);
        if (handle.GetOutput(index) != output)
        {
            OutputCount += output ? 1 : -1;
            handle.SetOutput(index, output);
        }
    }

    /// <summary>The token at entry <paramref name="index"/>.</summary>
    public int TokenAt(int index)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual((uint)index, (uint)handle.Count, nameof(index));
        return handle.GetToken(index);
    }

    /// <summary>Empties the batch for the next step (the memory is kept).</summary>
    public void Clear()
    {
        handle.Count = 0;
        OutputCount = 0;
    }

    /// <inheritdoc />
    public void Dispose() => handle.Dispose();
}
