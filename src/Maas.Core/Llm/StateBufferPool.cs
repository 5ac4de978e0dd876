using System.Numerics;

namespace Maas.Core.Llm;

/// <summary>
/// Buffers for saved KV states (the host prompt cache's), handed back when their entry is restored or dropped and
/// handed out again for the next save, so a save writes into memory the process already touched.
/// </summary>
/// <remarks>
/// A prompt's state runs to tens of megabytes (64 KB a token for the benchmark's 270M model). Written into a new
/// array, every 4 KB page of it faults in first: the engine log saw such saves take 10 to 40 times as long as
/// restores of the same state (which write into the KV buffer, long touched), and a save is in the way of the request
/// that overwrites the slot and of every step after. Buffers are sized in steps of an eighth of a power of two, so a
/// state of about the same size takes a buffer another one left (at most an eighth more than it needs); a buffer is
/// handed out only for a state of at least half its size. Not thread-safe: the engine loop owns it.
/// </remarks>
public sealed class StateBufferPool
{
    private readonly List<byte[]> _free = [];

    /// <summary>A pool holding at most <paramref name="maxBuffers"/> spare buffers of at most <paramref name="maxBytes"/> bytes in all.</summary>
    public StateBufferPool(int maxBuffers, long maxBytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(maxBuffers);
        ArgumentOutOfRangeException.ThrowIfNegative(maxBytes);
        MaxBuffers = maxBuffers;
        MaxBytes = maxBytes;
    }

    /// <summary>The most spare buffers held.</summary>
    public int MaxBuffers { get; }

    /// <summary>The most bytes of spare buffers held.</summary>
    public long MaxBytes { get; }

    /// <summary>Bytes of the spare buffers held now.</summary>
    public long Bytes { get; private set; }

    /// <summary>Spare buffers held now.</summary>
    public int Count => _free.Count;

    /// <summary>Buffers handed out that were handed back before.</summary>
    public long Reused { get; private set; }

    /// <summary>Buffers handed out new.</summary>
    public long Allocated { get; private set; }

    /// <summary>The size a buffer for <paramref name="bytes"/> bytes gets: the next step of an eighth of a power of two.</summary>
    public static long SizeFor(long bytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(bytes);
        if (bytes <= 4096)
        {
            return 4096;
        }

        var step = Math.Max(512L, (long)BitOperations.RoundUpToPowerOf2((ulong)bytes) / 16);
        return (bytes + step - 1) / step * step;
    }

    /// <summary>
    /// A buffer of at least <paramref name="bytes"/> bytes (content undefined): the smallest spare one that fits and is
    /// at most twice as large, else a new one of <see cref="SizeFor"/> bytes.
    /// </summary>
    public byte[] Rent(long bytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(bytes);
        var best = -1;
        for (var i = 0; i < _free.Count; i++)
        {
            var length = _free[i].LongLength;
            if (length >= bytes && length <= 2 * Math.Max(bytes, 4096) && (best < 0 || length < _free[best].LongLength))
            {
                best = i;
            }
        }

        if (best >= 0)
        {
            var buffer = _free[best];
            _free.RemoveAt(best);
            Bytes -= buffer.LongLength;
            Reused++;
            return buffer;
        }

        Allocated++;
        return GC.AllocateUninitializedArray<byte>(checked((int)SizeFor(bytes)));
    }

    /// <summary>Takes a buffer back for a later <see cref="Rent"/>; the oldest spare ones go when the pool is full.</summary>
    public void Return(byte[] buffer)
    {
        ArgumentNullException.ThrowIfNull(buffer);
        if (MaxBuffers == 0 || buffer.LongLength > MaxBytes)
        {
            return;
        }

        _free.Add(buffer);
        Bytes += buffer.LongLength;
        while (_free.Count > MaxBuffers || Bytes > MaxBytes)
        {
            Bytes -= _free[0].LongLength;
            _free.RemoveAt(0);
        }
    }
}
