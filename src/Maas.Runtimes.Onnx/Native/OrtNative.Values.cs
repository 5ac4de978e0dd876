using System.Runtime.InteropServices;
using System.Text;

namespace Maas.Runtimes.Onnx.Native;

internal static unsafe partial class OrtNative
{
    // ONNXTensorElementDataType for strings.
    private const int ElementTypeString = 8;

    private static OrtMemoryInfoHandle? _cpuMemoryInfo;

    /// <summary>The process-wide memory info for caller-owned CPU buffers.</summary>
    public static OrtMemoryInfoHandle CpuMemoryInfo => LazyInitializer.EnsureInitialized(ref _cpuMemoryInfo, CreateCpuMemoryInfo);

    /// <summary>
    /// A tensor over <paramref name="data"/> without copying: the memory is pinned until the value is released.
    /// The caller keeps ownership and must not reuse the memory while the tensor is alive.
    /// </summary>
    public static OrtValueHandle CreateTensorOver<T>(Memory<T> data, ReadOnlySpan<long> shape, int elementType)
        where T : unmanaged
    {
        var pin = data.Pin();
        try
        {
            IntPtr value;
            using var info = new HandleLease(CpuMemoryInfo);
            fixed (long* dims = shape)
            {
                Check(((delegate* unmanaged<IntPtr, void*, nuint, long*, nuint, int, IntPtr*, IntPtr>)OrtLibrary.Fn(OrtApiSlot.CreateTensorWithDataAsOrtValue))(
                    info.Pointer, pin.Pointer, (nuint)(data.Length * sizeof(T)), dims, (nuint)shape.Length, elementType, &value));
            }

            return new OrtValueHandle(value, pin);
        }
        catch
        {
            pin.Dispose();
            throw;
        }
    }

    /// <summary>A tensor whose buffer ONNX Runtime allocates (native memory, freed with the value).</summary>
    public static OrtValueHandle AllocateTensor(ReadOnlySpan<long> shape, int elementType)
    {
        IntPtr value;
        fixed (long* dims = shape)
        {
            Check(((delegate* unmanaged<IntPtr, long*, nuint, int, IntPtr*, IntPtr>)OrtLibrary.Fn(OrtApiSlot.CreateTensorAsOrtValue))(
                DefaultAllocator(), dims, (nuint)shape.Length, elementType, &value));
        }

        return new OrtValueHandle(value);
    }

    /// <summary>A string tensor filled with copies of <paramref name="values"/> (ONNX Runtime keeps std::string elements).</summary>
    public static OrtValueHandle CreateStringTensor(ReadOnlySpan<long> shape, IReadOnlyList<ReadOnlyMemory<byte>> values)
    {
        var tensor = AllocateTensor(shape, ElementTypeString);
        try
        {
            using var lease = new HandleLease(tensor);
            using var strings = new Utf8Array(values);
            Check(((delegate* unmanaged<IntPtr, byte**, nuint, IntPtr>)OrtLibrary.Fn(OrtApiSlot.FillStringTensor))(lease.Pointer, strings.Pointers, (nuint)values.Count));
            return tensor;
        }
        catch
        {
            tensor.Dispose();
            throw;
        }
    }

    /// <summary>Element type and shape of a tensor value.</summary>
    public static (int ElementType, long[] Shape) DescribeTensor(OrtValueHandle value)
    {
        using var lease = new HandleLease(value);
        IntPtr info;
        Check(((delegate* unmanaged<IntPtr, IntPtr*, IntPtr>)OrtLibrary.Fn(OrtApiSlot.GetTensorTypeAndShape))(lease.Pointer, &info));
        using var handle = new OrtTensorTypeAndShapeInfoHandle(info);
        var (elementType, dims, _) = ReadTensorInfo(info, withSymbolic: false);
        return (elementType, dims);
    }

    /// <summary>Whether the value is a tensor (not a sequence, map or optional).</summary>
    public static bool IsTensor(OrtValueHandle value)
    {
        using var lease = new HandleLease(value);
        int isTensor;
        Check(((delegate* unmanaged<IntPtr, int*, IntPtr>)OrtLibrary.Fn(OrtApiSlot.IsTensor))(lease.Pointer, &isTensor));
        return isTensor != 0;
    }

    /// <summary>The ONNXType of a value (1 tensor, 2 sequence, 3 map, ...).</summary>
    public static int ValueType(OrtValueHandle value)
    {
        using var lease = new HandleLease(value);
        int type;
        Check(((delegate* unmanaged<IntPtr, int*, IntPtr>)OrtLibrary.Fn(OrtApiSlot.GetValueType))(lease.Pointer, &type));
        return type;
    }

    /// <summary>
    /// The tensor's buffer as bytes. Valid while the value is alive: the owning <see cref="OnnxTensor"/> guards that.
    /// </summary>
    public static Span<byte> TensorBytes(OrtValueHandle value, long byteLength)
    {
        if (byteLength == 0)
        {
            return [];
        }

        using var lease = new HandleLease(value);
        void* data;
        Check(((delegate* unmanaged<IntPtr, void**, IntPtr>)OrtLibrary.Fn(OrtApiSlot.GetTensorMutableData))(lease.Pointer, &data));
        return new Span<byte>(data, checked((int)byteLength));
    }

    /// <summary>Copies the elements of a string tensor out, as raw bytes per element.</summary>
    public static byte[][] ReadStrings(OrtValueHandle value, long count)
    {
        using var lease = new HandleLease(value);
        nuint total;
        Check(((delegate* unmanaged<IntPtr, nuint*, IntPtr>)OrtLibrary.Fn(OrtApiSlot.GetStringTensorDataLength))(lease.Pointer, &total));
        var content = new byte[(int)total];
        var offsets = new nuint[count];
        fixed (byte* contentPointer = content)
        fixed (nuint* offsetPointer = offsets)
        {
            Check(((delegate* unmanaged<IntPtr, void*, nuint, nuint*, nuint, IntPtr>)OrtLibrary.Fn(OrtApiSlot.GetStringTensorContent))(
                lease.Pointer, contentPointer, total, offsetPointer, (nuint)count));
        }

        var result = new byte[count][];
        for (var i = 0; i < count; i++)
        {
            var start = (int)offsets[i];
            var end = i + 1 < count ? (int)offsets[i + 1] : (int)total;
            result[i] = content[start..end];
        }

        return result;
    }

    /// <summary>UTF-8 bytes of a string, for string tensors.</summary>
    public static ReadOnlyMemory<byte> EncodeString(string value) => Encoding.UTF8.GetBytes(value);
}
