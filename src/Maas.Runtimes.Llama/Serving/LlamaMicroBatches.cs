namespace Maas.Runtimes.Llama.Serving;

/// <summary>How many micro-batches (passes over the weights) llama.cpp splits one decode batch into.</summary>
/// <remarks>
/// With per-slot KV buffers llama.cpp splits "equally": a micro-batch takes, in batch order, one sequence after another
/// while each id is one more than the last, and as many tokens of each as all of them still have, within the
/// micro-batch size. A run of consecutive slots decodes in one pass; a slot apart, or a prompt longer than the others,
/// costs a pass of its own. With one unified buffer a batch is cut into micro-batches by size alone.
/// </remarks>
internal static class LlamaMicroBatches
{
    /// <summary>The micro-batches of a batch holding <paramref name="tokens"/>[i] tokens of sequence <paramref name="sequences"/>[i], in batch order.</summary>
    public static int Count(ReadOnlySpan<int> sequences, ReadOnlySpan<int> tokens, int microBatch, bool unified)
    {
        if (sequences.Length != tokens.Length)
        {
            throw new ArgumentException("one token count per sequence", nameof(tokens));
        }

        ArgumentOutOfRangeException.ThrowIfLessThan(microBatch, 1);
        var total = 0;
        foreach (var t in tokens)
        {
            total += t;
        }

        if (unified)
        {
            return (total + microBatch - 1) / microBatch;
        }

        Span<int> remaining = tokens.Length <= 256 ? stackalloc int[tokens.Length] : new int[tokens.Length];
        tokens.CopyTo(remaining);
        Span<int> members = sequences.Length <= 256 ? stackalloc int[sequences.Length] : new int[sequences.Length];
        var passes = 0;
        while (total > 0)
        {
            var count = 0;
            var last = -1;
            var fewest = int.MaxValue;
            for (var i = 0; i < sequences.Length; i++)
            {
                if (remaining[i] > 0 && (count == 0 || sequences[i] == last + 1))
                {
                    members[count++] = i;
                    last = sequences[i];
                    fewest = Math.Min(fewest, remaining[i]);
                }
            }

            var each = Math.Min(fewest, Math.Max(1, microBatch / count));
            foreach (var i in members[..count])
            {
                remaining[i] -= each;
                total -= each;
            }

            passes++;
        }

        return passes;
    }
}
