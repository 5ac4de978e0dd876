using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;
using Maas.Core.Formats.Onnx;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace Maas.Runtimes.Onnx;

/// <summary>
/// A tensor ONNX Runtime can take or return: over caller memory (no copy), over native memory, or holding strings.
/// </summary>
/// <remarks>
/// Spans returned by <see cref="GetData{T}"/> and <see cref="GetBytes"/> point into the tensor's buffer and are valid
/// until the tensor is disposed. A tensor made over caller memory keeps that memory pinned until it is disposed; the
/// caller must not reuse the memory before then.
/// </remarks>
public sealed class OnnxTensor : IDisposable
{
    private readonly long[] _shape;
    private MemoryHandle _pin;
    private bool _disposed;

    internal OnnxTensor(OrtValue value, MemoryHandle pin = default)
    {
        Value = value;
        _pin = pin;
        if (!value.IsTensor)
        {
            var type = value.OnnxType;
            Dispose();
            throw new NotSupportedException($"ONNX Runtime returned a non-tensor value ({type}); MaaS serves tensors only");
        }

        var info = value.GetTensorTypeAndShape();
        ElementType = (OnnxElementType)info.ElementDataType;
        _shape = info.Shape;
        ElementCount = info.ElementCount;
    }

    // A tensor this class made, whose type and shape are known: no need to ask ONNX Runtime (a request's hot path).
    private OnnxTensor(OrtValue value, OnnxElementType elementType, long[] shape, long elementCount, MemoryHandle pin = default)
    {
        Value = value;
        _pin = pin;
        ElementType = elementType;
        _shape = shape;
        ElementCount = elementCount;
    }

    /// <summary>The element type.</summary>
    public OnnxElementType ElementType { get; }

    /// <summary>The dimensions (a copy).</summary>
    public long[] Shape => (long[])_shape.Clone();

    /// <summary>The dimensions, without a copy.</summary>
    public ReadOnlySpan<long> ShapeSpan => _shape;

    /// <summary>The number of elements (product of the dimensions).</summary>
    public long ElementCount { get; }

    /// <summary>The KServe v2 datatype name ("FP32", "BYTES"...).</summary>
    public string KServeDatatype => OnnxElementTypes.DisplayName(ElementType);

    /// <summary>The managed API's value.</summary>
    internal OrtValue Value { get; }

    /// <summary>A tensor over <paramref name="data"/> without copying; the element type follows <typeparamref name="T"/>.</summary>
    public static OnnxTensor Create<T>(T[] data, params long[] shape)
        where T : unmanaged => Create(data.AsMemory(), shape);

    /// <summary>A tensor over caller memory (e.g. a pooled buffer) without copying; the element type follows <typeparamref name="T"/>.</summary>
    public static OnnxTensor Create<T>(Memory<T> data, ReadOnlySpan<long> shape)
        where T : unmanaged => Create(data, shape, ElementTypeOf<T>());

    /// <summary>
    /// A tensor over caller memory of an explicit element type, for storage types that differ from the element
    /// (e.g. <see cref="ushort"/> bits for FP16); the sizes must agree.
    /// </summary>
    public static OnnxTensor Create<T>(Memory<T> data, ReadOnlySpan<long> shape, OnnxElementType elementType)
        where T : unmanaged
    {
        var size = OnnxElementTypes.SizeOf(elementType);
        if (size == 0 || elementType == OnnxElementType.String)
        {
            throw new ArgumentException($"{elementType} tensors cannot be made over raw memory", nameof(elementType));
        }

        if (size != Unsafe.SizeOf<T>() && typeof(T) != typeof(byte))
        {
            throw new ArgumentException($"{typeof(T).Name} elements are {Unsafe.SizeOf<T>()} bytes but {elementType} needs {size}", nameof(data));
        }

        var count = CountOf(shape);
        var needed = checked(count * size);
        var given = (long)data.Length * Unsafe.SizeOf<T>();
        if (given != needed)
        {
            throw new ArgumentException($"the shape [{string.Join(",", shape.ToArray())}] of {elementType} needs {needed} bytes but the buffer has {given}", nameof(data));
        }

        // Zero copy: pinned here, unpinned when the tensor is disposed.
        var pin = data.Pin();
        try
        {
            var dims = shape.ToArray();
            return new OnnxTensor(Native.PinnedOrtValue.CreateOver(pin, dims, elementType, needed), elementType, dims, count, pin);
        }
        catch
        {
            pin.Dispose();
            throw;
        }
    }

    /// <summary>
    /// A read-only input over raw little-endian bytes without copying. ONNX Runtime does not write into inputs, so a
    /// request body can be fed as it is; never bind such a tensor as an output.
    /// </summary>
    public static OnnxTensor CreateFromBytes(OnnxElementType elementType, ReadOnlyMemory<byte> data, ReadOnlySpan<long> shape) =>
        Create(MemoryMarshal.AsMemory(data), shape, elementType);

    /// <summary>A tensor whose buffer ONNX Runtime allocates in native memory; fill it through <see cref="GetData{T}"/>.</summary>
    public static OnnxTensor Allocate(OnnxElementType elementType, ReadOnlySpan<long> shape)
    {
        if (OnnxElementTypes.SizeOf(elementType) == 0)
        {
            throw new ArgumentException($"{elementType} tensors cannot be allocated as raw memory; use CreateStrings for strings", nameof(elementType));
        }

        var dims = shape.ToArray();
        var value = OnnxErrors.Call(() => OrtValue.CreateAllocatedTensorValue(OrtAllocator.DefaultInstance, (TensorElementType)elementType, dims));
        return new OnnxTensor(value, elementType, dims, CountOf(dims));
    }

    /// <summary>A string tensor (ONNX Runtime copies the strings, as UTF-8).</summary>
    public static OnnxTensor CreateStrings(IReadOnlyList<string> values, ReadOnlySpan<long> shape) =>
        CreateStrings(values.Select(v => (ReadOnlyMemory<byte>)Encoding.UTF8.GetBytes(v)).ToArray(), shape);

    /// <summary>A string tensor from raw bytes per element (KServe BYTES); an element may not contain a zero byte.</summary>
    public static OnnxTensor CreateStrings(IReadOnlyList<ReadOnlyMemory<byte>> values, ReadOnlySpan<long> shape)
    {
        if (CountOf(shape) != values.Count)
        {
            throw new ArgumentException($"the shape [{string.Join(",", shape.ToArray())}] holds {CountOf(shape)} strings but {values.Count} were given", nameof(values));
        }

        for (var i = 0; i < values.Count; i++)
        {
            if (values[i].Span.Contains((byte)0))
            {
                throw new ArgumentException($"string element {i} contains a zero byte, which ONNX Runtime's string tensors cannot hold", nameof(values));
            }
        }

        var dims = shape.ToArray();
        var value = OnnxErrors.Call(() => OrtValue.CreateTensorWithEmptyStrings(OrtAllocator.DefaultInstance, dims));
        try
        {
            for (var i = 0; i < values.Count; i++)
            {
                value.StringTensorSetElementAt(values[i].Span, i);
            }
        }
        catch
        {
            value.Dispose();
            throw;
        }

        return new OnnxTensor(value);
    }

    /// <summary>
    /// The values of a label output (a classifier's answer) as longs: bool, uint8, int32, uint32, int64, or float holding
    /// whole numbers; null for any other element type.
    /// </summary>
    public long[]? LabelsAsInt64() => ElementType switch
    {
        OnnxElementType.Bool => GetData<bool>().ToArray().Select(b => b ? 1L : 0L).ToArray(),
        OnnxElementType.UInt8 => GetData<byte>().ToArray().Select(b => (long)b).ToArray(),
        OnnxElementType.Int64 => GetData<long>().ToArray(),
        OnnxElementType.Int32 => GetData<int>().ToArray().Select(v => (long)v).ToArray(),
        OnnxElementType.UInt32 => GetData<uint>().ToArray().Select(v => (long)v).ToArray(),
        OnnxElementType.Float => GetData<float>().ToArray().Select(v => (long)v).ToArray(),
        _ => null,
    };

    /// <summary>The elements, in place (no copy); <typeparamref name="T"/> must match the element type.</summary>
    public Span<T> GetData<T>()
        where T : unmanaged
    {
        var expected = ElementTypeOf<T>();
        if (expected != ElementType)
        {
            throw new InvalidOperationException($"the tensor holds {ElementType}, not {typeof(T).Name} ({expected})");
        }

        return MemoryMarshal.Cast<byte, T>(GetBytes());
    }

    /// <summary>The raw little-endian bytes of a numeric tensor, in place (no copy).</summary>
    public Span<byte> GetBytes()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (ElementType == OnnxElementType.String)
        {
            throw new InvalidOperationException("a string tensor has no flat buffer; use GetStrings");
        }

        var length = OnnxElementTypes.ByteLength(ElementType, ElementCount)
            ?? throw new NotSupportedException($"{ElementType} has no fixed element size");
        return length == 0 ? [] : Value.GetTensorMutableRawData()[..checked((int)length)];
    }

    /// <summary>A copy of the elements.</summary>
    public T[] ToArray<T>()
        where T : unmanaged => GetData<T>().ToArray();

    /// <summary>The elements of a string tensor, decoded as UTF-8.</summary>
    public string[] GetStrings() => GetStringBytes().Select(b => Encoding.UTF8.GetString(b)).ToArray();

    /// <summary>The elements of a string tensor as raw bytes.</summary>
    public byte[][] GetStringBytes()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (ElementType != OnnxElementType.String)
        {
            throw new InvalidOperationException($"the tensor holds {ElementType}, not strings");
        }

        var strings = new byte[ElementCount][];
        for (var i = 0; i < strings.Length; i++)
        {
            strings[i] = Value.GetStringElementAsSpan(i).ToArray(); // the element's UTF-8 bytes as stored, not re-encoded
        }

        return strings;
    }

    /// <summary>Releases the native value (and the pin on caller memory).</summary>
    public void Dispose()
    {
        _disposed = true;
        Value.Dispose();
        _pin.Dispose(); // after the value: ONNX Runtime no longer points into the memory
        _pin = default;
    }

    /// <summary>The ONNX element type a .NET element type stands for.</summary>
    public static OnnxElementType ElementTypeOf<T>()
        where T : unmanaged => default(T) switch
        {
            float => OnnxElementType.Float,
            double => OnnxElementType.Double,
            Half => OnnxElementType.Float16,
            BFloat16 => OnnxElementType.BFloat16,
            sbyte => OnnxElementType.Int8,
            short => OnnxElementType.Int16,
            int => OnnxElementType.Int32,
            long => OnnxElementType.Int64,
            byte => OnnxElementType.UInt8,
            ushort => OnnxElementType.UInt16,
            uint => OnnxElementType.UInt32,
            ulong => OnnxElementType.UInt64,
            bool => OnnxElementType.Bool,
            _ => throw new NotSupportedException($"{typeof(T).Name} is not an ONNX tensor element type"),
        };

    private static long CountOf(ReadOnlySpan<long> shape)
    {
        long count = 1;
        foreach (var dim in shape)
        {
            if (dim < 0)
            {
                throw new ArgumentException($"a tensor's dimensions must be >= 0, got {dim}", nameof(shape));
            }

            count = checked(count * dim);
        }

        return count;
    }
}
