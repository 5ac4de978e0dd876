using System.Buffers;

namespace Maas.Core.TensorServing;

/// <summary>A byte buffer rented from the shared array pool and returned when disposed.</summary>
public sealed class PooledBuffer : IDisposable
{
    private byte[]? _array;

    private PooledBuffer(byte[] array, int length)
    {
        _array = array;
        Length = length;
    }

    /// <summary>The number of usable bytes (the rented array may be longer).</summary>
    public int Length { get; }

    /// <summary>The usable bytes.</summary>
    public Memory<byte> Memory => new(_array ?? throw new ObjectDisposedException(nameof(PooledBuffer)), 0, Length);

    /// <summary>The usable bytes as a span.</summary>
    public Span<byte> Span => Memory.Span;

    /// <summary>Rents a buffer of exactly <paramref name="length"/> usable bytes; contents are not cleared.</summary>
    public static PooledBuffer Rent(long length)
    {
        if (length < 0 || length > Array.MaxLength)
        {
            throw new InferenceException(InferenceErrorKind.InvalidInput, $"a tensor of {length} bytes is larger than one buffer can hold ({Array.MaxLength} bytes)");
        }

        return new PooledBuffer(length == 0 ? [] : ArrayPool<byte>.Shared.Rent((int)length), (int)length);
    }

    /// <summary>
    /// A buffer of <paramref name="length"/> usable bytes holding the first <paramref name="keep"/> bytes of
    /// <paramref name="old"/>, which is returned to the pool: how a message grows as its bytes arrive, rather than
    /// being rented at the size its sender declared.
    /// </summary>
    public static PooledBuffer Grow(PooledBuffer old, long length, int keep)
    {
        var grown = Rent(length);
        old.Span[..keep].CopyTo(grown.Span);
        old.Dispose();
        return grown;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        var array = Interlocked.Exchange(ref _array, null);
        if (array is { Length: > 0 })
        {
            ArrayPool<byte>.Shared.Return(array);
        }
    }
}
