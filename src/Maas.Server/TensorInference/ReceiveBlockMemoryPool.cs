using System.Buffers;
using System.Collections.Concurrent;
using System.Runtime.InteropServices;

namespace Maas.Server.TensorInference;

/// <summary>A pool of equal, pinned blocks (sockets pin what they receive into); keeps at most a bounded number of free blocks.</summary>
internal sealed class ReceiveBlockMemoryPool(int blockSize, int maxRetained) : MemoryPool<byte>
{
    private readonly ConcurrentQueue<Block> _free = new();
    private int _freeCount;
    private volatile bool _disposed;

    public override int MaxBufferSize => blockSize;

    public override IMemoryOwner<byte> Rent(int minBufferSize = -1)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(minBufferSize, blockSize);
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_free.TryDequeue(out var block))
        {
            Interlocked.Decrement(ref _freeCount);
            block.Rented = true;
            return block;
        }

        return new Block(this, GC.AllocateUninitializedArray<byte>(blockSize, pinned: true));
    }

    private void Return(Block block)
    {
        // Past the bound (a burst of connections) the block is left to the GC rather than kept for ever.
        if (_disposed || Interlocked.Increment(ref _freeCount) > maxRetained)
        {
            Interlocked.Decrement(ref _freeCount);
            return;
        }

        _free.Enqueue(block);
    }

    protected override void Dispose(bool disposing)
    {
        _disposed = true;
        _free.Clear();
    }

    private sealed class Block(ReceiveBlockMemoryPool pool, byte[] array) : IMemoryOwner<byte>
    {
        // Over a pinned-heap array, so a socket's Pin() costs nothing.
        public Memory<byte> Memory { get; } = MemoryMarshal.CreateFromPinnedArray(array, 0, array.Length);

        public bool Rented { get; set; } = true;

        public void Dispose()
        {
            // A block goes back once per rent, even if its owner disposes it twice.
            if (Rented)
            {
                Rented = false;
                pool.Return(this);
            }
        }
    }
}
