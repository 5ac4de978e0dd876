using Maas.Runtimes.Llama.Native;

namespace Maas.Runtimes.Llama;

/// <summary>The KV cache of a context, edited per sequence: drop, copy, keep, shift positions.</summary>
/// <remarks>
/// Positions p0..p1 are half-open [p0, p1); a negative p0 means from the start and a negative p1 means to the end.
/// These are what a prefix cache (copy a cached prefix into a new slot) and context shifting are built from.
/// </remarks>
public sealed class LlamaMemory
{
    private readonly LlamaContext context;

    internal LlamaMemory(LlamaContext context) => this.context = context;

    /// <summary>Whether positions can be shifted (<see cref="Shift"/>); false for some recurrent or SWA caches.</summary>
    public bool CanShift => Handle.MemoryCanShift();

    private SafeLlamaContextHandle Handle => context.Handle;

    /// <summary>Empties the memory of every sequence; <paramref name="data"/> also zeroes the buffers.</summary>
    public void Clear(bool data = false) => Handle.MemoryClear(data);

    /// <summary>Drops the tokens of <paramref name="sequence"/> (any sequence when negative) in [p0, p1).</summary>
    /// <returns>False when a partial range cannot be removed (recurrent models); removing a whole sequence always works.</returns>
    public bool Remove(int sequence, int p0 = -1, int p1 = -1)
    {
        CheckSequence(sequence, allowAny: true);
        return Handle.MemoryRemove(sequence, p0, p1);
    }

    /// <summary>Makes the tokens of <paramref name="source"/> in [p0, p1) also part of <paramref name="destination"/> (no recompute).</summary>
    /// <exception cref="ArgumentException">A part of a sequence between per-sequence buffers (llama.cpp would abort).</exception>
    public void Copy(int source, int destination, int p0 = -1, int p1 = -1)
    {
        CheckSequence(source);
        CheckSequence(destination);
        if (!context.UnifiedKvCache && source != destination && (p0 > 0 || p1 >= 0))
        {
            throw new ArgumentException("with one KV buffer per sequence only whole sequences can be copied; use CopyPrefix", nameof(p0));
        }

        Handle.MemoryCopy(source, destination, p0, p1);
    }

    /// <summary>
    /// Makes the first <paramref name="length"/> tokens of <paramref name="source"/> the whole of
    /// <paramref name="destination"/> (its own tokens go), without recomputing them.
    /// </summary>
    /// <remarks>
    /// In a unified buffer the cells are only tagged with one more sequence. Between per-sequence buffers llama.cpp
    /// copies whole buffers (at the next decode), so the copy is then cut back to the prefix.
    /// </remarks>
    /// <returns>False when the copy could not be cut (recurrent models): <paramref name="destination"/> is left empty.</returns>
    public bool CopyPrefix(int source, int destination, int length)
    {
        Remove(destination);
        if (length <= 0)
        {
            return true;
        }

        if (context.UnifiedKvCache)
        {
            Copy(source, destination, 0, length);
            return true;
        }

        Copy(source, destination);
        if (Remove(destination, length, -1))
        {
            return true;
        }

        Remove(destination);
        return false;
    }

    /// <summary>Drops every token not in <paramref name="sequence"/> from the cells it shares with others.</summary>
    /// <remarks>
    /// With one KV buffer per sequence (<see cref="LlamaContextOptions.UnifiedKvCache"/> off, llama.cpp's default) other
    /// sequences live in their own cells and are not touched; with a unified buffer they are all dropped.
    /// </remarks>
    public void Keep(int sequence)
    {
        CheckSequence(sequence);
        Handle.MemoryKeep(sequence);
    }

    /// <summary>Adds <paramref name="delta"/> to the positions of <paramref name="sequence"/>'s tokens in [p0, p1) (context shift).</summary>
    public void Shift(int sequence, int p0, int p1, int delta)
    {
        CheckSequence(sequence);
        if (!CanShift)
        {
            throw new InvalidOperationException("this model's memory cannot shift positions");
        }

        Handle.MemoryAdd(sequence, p0, p1, delta);
    }

    /// <summary>Divides the positions of <paramref name="sequence"/>'s tokens in [p0, p1) by <paramref name="divisor"/> (self-extend).</summary>
    public void Divide(int sequence, int p0, int p1, int divisor)
    {
        CheckSequence(sequence);
        ArgumentOutOfRangeException.ThrowIfLessThan(divisor, 2);
        Handle.MemoryDivide(sequence, p0, p1, divisor);
    }

    /// <summary>The smallest and largest position the sequence holds, or (-1, -1) when it is empty.</summary>
    public (int Min, int Max) GetPositions(int sequence)
    {
        CheckSequence(sequence);
        return Handle.MemoryPositions(sequence);
    }

    /// <summary>Tokens held for the sequence (max position + 1; 0 when empty).</summary>
    public int GetLength(int sequence) => GetPositions(sequence).Max + 1;

    private void CheckSequence(int sequence, bool allowAny = false)
    {
        // llama.cpp asserts (aborts the process) on sequence ids outside [0, n_seq_max).
        if ((allowAny && sequence < 0) || (uint)sequence < (uint)context.SequenceCount)
        {
            return;
        }

        throw new ArgumentOutOfRangeException(nameof(sequence), sequence, $"sequence ids of this context are 0 to {context.SequenceCount - 1}");
    }
}
