using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;

namespace Maas.Core.TensorServing;

/// <summary>A named tensor: datatype, shape and row-major little-endian data, usually over a pooled buffer.</summary>
/// <remarks>
/// BYTES tensors hold each element as a 4-byte little-endian length followed by its bytes, which is the wire form
/// of the v2 binary extension and gRPC raw contents, so they move between protocol and scheduler without re-encoding.
/// </remarks>
public sealed class Tensor : IDisposable
{
    private IDisposable? _owner;

    private Tensor(string name, TensorDataType dataType, long[] shape, long elementCount, Memory<byte> data, IDisposable? owner)
    {
        Name = name;
        DataType = dataType;
        Shape = shape;
        ElementCount = elementCount;
        Data = data;
        _owner = owner;
    }

    /// <summary>The input or output name.</summary>
    public string Name { get; }

    /// <summary>The element type.</summary>
    public TensorDataType DataType { get; }

    /// <summary>The dimensions (treat as read-only).</summary>
    public long[] Shape { get; }

    /// <summary>The number of elements the shape holds.</summary>
    public long ElementCount { get; }

    /// <summary>The raw bytes.</summary>
    public Memory<byte> Data { get; }

    /// <summary>The data viewed as elements of <typeparamref name="T"/> (not for BYTES).</summary>
    public Span<T> AsSpan<T>()
        where T : unmanaged => MemoryMarshal.Cast<byte, T>(Data.Span);

    /// <summary>Wraps existing bytes; <paramref name="owner"/> (if any) is disposed with the tensor. Checks size against shape.</summary>
    public static Tensor Wrap(string name, TensorDataType dataType, long[] shape, Memory<byte> data, IDisposable? owner = null)
    {
        var count = TensorShape.ElementCount(name, shape);
        if (dataType == TensorDataType.Bytes)
        {
            var found = CountBytesElements(data.Span, out var error);
            if (error is not null || found != count)
            {
                throw new InferenceException(InferenceErrorKind.InvalidInput, error is not null
                    ? $"tensor '{name}': {error}"
                    : $"tensor '{name}': BYTES data holds {found} elements but shape {TensorShape.Format(shape)} needs {count}");
            }
        }
        else if (data.Length != count * dataType.ElementSize())
        {
            throw new InferenceException(InferenceErrorKind.InvalidInput,
                $"tensor '{name}': {data.Length} bytes of data but {dataType.Name()} shape {TensorShape.Format(shape)} needs {count * dataType.ElementSize()} " +
                $"bytes ({count} elements)");
        }

        return new Tensor(name, dataType, shape, count, data, owner);
    }

    /// <summary>Allocates a pooled tensor of a fixed-size type; the contents are not cleared.</summary>
    public static Tensor Allocate(string name, TensorDataType dataType, long[] shape)
    {
        if (dataType == TensorDataType.Bytes)
        {
            throw new ArgumentException("BYTES tensors have no fixed size; use AllocateBytes", nameof(dataType));
        }

        var count = TensorShape.ElementCount(name, shape);
        var buffer = PooledBuffer.Rent(count * dataType.ElementSize());
        return new Tensor(name, dataType, shape, count, buffer.Memory, buffer);
    }

    /// <summary>Allocates a pooled BYTES tensor whose serialized form (length prefixes included) takes <paramref name="byteLength"/> bytes; the caller fills it.</summary>
    public static Tensor AllocateBytes(string name, long[] shape, long byteLength, out Memory<byte> data)
    {
        var count = TensorShape.ElementCount(name, shape);
        var buffer = PooledBuffer.Rent(byteLength);
        data = buffer.Memory;
        return new Tensor(name, TensorDataType.Bytes, shape, count, buffer.Memory, buffer);
    }

    /// <summary>Copies values into a new pooled tensor.</summary>
    public static Tensor FromValues<T>(string name, TensorDataType dataType, long[] shape, ReadOnlySpan<T> values)
        where T : unmanaged
    {
        var bytes = MemoryMarshal.AsBytes(values);
        var tensor = Allocate(name, dataType, shape);
        if (bytes.Length != tensor.Data.Length)
        {
            tensor.Dispose();
            throw new InferenceException(InferenceErrorKind.InvalidInput,
                $"tensor '{name}': {values.Length} values do not fill shape {TensorShape.Format(shape)} of {dataType.Name()}");
        }

        bytes.CopyTo(tensor.Data.Span);
        return tensor;
    }

    /// <summary>Builds a pooled BYTES tensor from byte strings.</summary>
    public static Tensor FromByteStrings(string name, long[] shape, IReadOnlyList<byte[]> elements)
    {
        long total = 0;
        foreach (var e in elements)
        {
            total += 4 + e.Length;
        }

        var tensor = AllocateBytes(name, shape, total, out var data);
        var span = data.Span;
        foreach (var e in elements)
        {
            BinaryPrimitives.WriteInt32LittleEndian(span, e.Length);
            e.CopyTo(span[4..]);
            span = span[(4 + e.Length)..];
        }

        if (tensor.ElementCount != elements.Count)
        {
            tensor.Dispose();
            throw new InferenceException(InferenceErrorKind.InvalidInput,
                $"tensor '{name}': {elements.Count} strings do not fill shape {TensorShape.Format(shape)}");
        }

        return tensor;
    }

    /// <summary>Builds a pooled BYTES tensor from UTF-8 strings.</summary>
    public static Tensor FromStrings(string name, long[] shape, IEnumerable<string> elements) =>
        FromByteStrings(name, shape, elements.Select(Encoding.UTF8.GetBytes).ToArray());

    /// <summary>The elements of a BYTES tensor, in order.</summary>
    public List<ReadOnlyMemory<byte>> GetByteElements()
    {
        if (DataType != TensorDataType.Bytes)
        {
            throw new InvalidOperationException($"tensor '{Name}' is {DataType.Name()}, not BYTES");
        }

        var list = new List<ReadOnlyMemory<byte>>((int)Math.Min(ElementCount, 1 << 20));
        var offset = 0;
        var span = Data.Span;
        while (offset < span.Length)
        {
            var length = BinaryPrimitives.ReadInt32LittleEndian(span[offset..]);
            list.Add(Data.Slice(offset + 4, length));
            offset += 4 + length;
        }

        return list;
    }

    /// <summary>The elements of a BYTES tensor decoded as UTF-8.</summary>
    public string[] GetStrings() => GetByteElements().Select(e => Encoding.UTF8.GetString(e.Span)).ToArray();

    /// <summary>Counts length-prefixed elements; sets <paramref name="error"/> when the prefixes run past the end.</summary>
    public static long CountBytesElements(ReadOnlySpan<byte> data, out string? error)
    {
        long count = 0;
        var offset = 0;
        while (offset < data.Length)
        {
            if (data.Length - offset < 4)
            {
                error = $"BYTES element {count} has a truncated 4-byte length prefix at offset {offset}";
                return count;
            }

            var length = BinaryPrimitives.ReadInt32LittleEndian(data[offset..]);
            if (length < 0 || length > data.Length - offset - 4)
            {
                error = $"BYTES element {count} claims {length} bytes at offset {offset} but only {data.Length - offset - 4} remain";
                return count;
            }

            offset += 4 + length;
            count++;
        }

        error = null;
        return count;
    }

    /// <summary>Releases the pooled buffer (idempotent).</summary>
    public void Dispose() => Interlocked.Exchange(ref _owner, null)?.Dispose();

    /// <inheritdoc />
    public override string ToString() => $"{Name} {DataType.Name()}{TensorShape.Format(Shape)}";
}
