using System.Buffers;
using System.Numerics;

namespace Maas.Core.Llm;

/// <summary>
/// Buffers for saved KV states (the host prompt cache's): made by the engine's allocator, handed back when their entry
/// is restored or dropped and handed out again for the next save, so a save writes into memory already touched.
/// </summary>
/// <remarks>
/// A prompt's state runs to tens of megabytes (64 KB a token for the benchmark's 270M model). Written into new memory,
/// every 4 KB page faults in first: the engine log saw such saves take 30 times as long as restores of the same state
/// (which write into the KV buffer, long touched), in the way of the request that overwrites the slot and of every
/// step after; the engine's allocator asks for huge pages to make the first touch cheap too. Buffers are sized in
/// steps of an eighth of a power of two, so a state of about the same size takes a buffer another one left (the rounding
/// adds at most an eighth); a buffer is handed out only for a state of at least half its size. A new buffer gets
/// <see cref="GrowthDivisor">a quarter</see> more room than the state it is made for: a saved conversation comes back
/// larger (its next turn), and the buffer its restore hands back must hold that next save (the engine log saw two
/// thirds of saves need new memory when buffers were made to measure). Not thread-safe: the engine loop owns it.
/// </remarks>
public sealed class StateBufferPool : IDisposable
{
    private readonly List<IMemoryOwner<byte>> _free = [];
    private readonly Func<int, IMemoryOwner<byte>> _allocate;

    /// <summary>A new buffer holds its state plus this fraction of it (1/4) more: room for the conversation's next turn.</summary>
    public const int GrowthDivisor = 4;

    /// <summary>A pool holding at most <paramref name="maxBuffers"/> spare buffers of at most <paramref name="maxBytes"/> bytes in all.</summary>
    /// <param name="maxBuffers">The most spare buffers held.</param>
    /// <param name="maxBytes">The most bytes of spare buffers held.</param>
    /// <param name="allocate">Makes a buffer of the given size (default: a managed array).</param>
    public StateBufferPool(int maxBuffers, long maxBytes, Func<int, IMemoryOwner<byte>>? allocate = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(maxBuffers);
        ArgumentOutOfRangeException.ThrowIfNegative(maxBytes);
        MaxBuffers = maxBuffers;
        MaxBytes = maxBytes;
        _allocate = allocate ?? ArrayBuffer.Allocate;
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
    /// at most twice as large, else a new one with room for a quarter more (<see cref="SizeFor"/> of the bytes plus a
    /// <see cref="GrowthDivisor"/>th of them). The caller owns it (hand it back with
    /// <see cref="Return"/>, or dispose of it).
    /// </summary>
    public IMemoryOwner<byte> Rent(long bytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(bytes);
        var best = -1;
        for (var i = 0; i < _free.Count; i++)
        {
            long length = _free[i].Memory.Length;
            if (length >= bytes && length <= 2 * Math.Max(bytes, 4096) && (best < 0 || length < _free[best].Memory.Length))
            {
                best = i;
            }
        }

        if (best >= 0)
        {
            var buffer = _free[best];
            _free.RemoveAt(best);
            Bytes -= buffer.Memory.Length;
            Reused++;
            return buffer;
        }

        Allocated++;
        return _allocate(checked((int)NewBufferSize(bytes)));
    }

    /// <summary>Buffers made ahead by <see cref="Prepare"/>.</summary>
    public long Prepared { get; private set; }

    /// <summary>
    /// Makes a spare buffer ahead of need, as <see cref="Rent"/> would for a state of <paramref name="bytes"/> bytes, and
    /// writes it through so its pages are faulted in now rather than in a later save's way; false (and nothing made)
    /// when the pool already holds <see cref="MaxBuffers"/> buffers or the new one would pass <see cref="MaxBytes"/>.
    /// </summary>
    public bool Prepare(long bytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(bytes);
        var size = NewBufferSize(bytes);
        if (_free.Count >= MaxBuffers || Bytes + size > MaxBytes)
        {
            return false;
        }

        var buffer = _allocate(checked((int)size));
        buffer.Memory.Span.Clear();
        _free.Add(buffer);
        Bytes += buffer.Memory.Length;
        Prepared++;
        return true;
    }

    // A new buffer for a state of `bytes`: a quarter more room, rounded to the size steps.
    private static long NewBufferSize(long bytes) => SizeFor(bytes + (bytes / GrowthDivisor));

    /// <summary>Takes a buffer back for a later <see cref="Rent"/>; the oldest spare ones are disposed of when the pool is full.</summary>
    public void Return(IMemoryOwner<byte> buffer)
    {
        ArgumentNullException.ThrowIfNull(buffer);
        if (MaxBuffers == 0 || buffer.Memory.Length > MaxBytes)
        {
            buffer.Dispose();
            return;
        }

        _free.Add(buffer);
        Bytes += buffer.Memory.Length;
        while (_free.Count > MaxBuffers || Bytes > MaxBytes)
        {
            Bytes -= _free[0].Memory.Length;
            _free[0].Dispose();
            _free.RemoveAt(0);
        }
    }

    /// <summary>Disposes of the spare buffers.</summary>
    public void Dispose()
    {
        foreach (var buffer in _free)
        {
            buffer.Dispose();
        }

        _free.Clear();
        Bytes = 0;
    }
}
