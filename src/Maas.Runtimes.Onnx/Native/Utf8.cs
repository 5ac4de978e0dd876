using System.Runtime.InteropServices;
using System.Text;

namespace Maas.Runtimes.Onnx.Native;

/// <summary>UTF-8, NUL-terminated strings in native memory, the form every ONNX Runtime name and option takes.</summary>
internal static unsafe class Utf8
{
    /// <summary>Copies <paramref name="value"/> into native memory; free with NativeMemory.Free.</summary>
    public static byte* Allocate(string value)
    {
        var length = Encoding.UTF8.GetByteCount(value);
        var buffer = (byte*)NativeMemory.Alloc((nuint)length + 1);
        Encoding.UTF8.GetBytes(value, new Span<byte>(buffer, length));
        buffer[length] = 0;
        return buffer;
    }

    /// <summary>Copies raw bytes plus a terminating NUL into native memory; free with NativeMemory.Free.</summary>
    public static byte* Allocate(ReadOnlySpan<byte> value)
    {
        var buffer = (byte*)NativeMemory.Alloc((nuint)value.Length + 1);
        value.CopyTo(new Span<byte>(buffer, value.Length));
        buffer[value.Length] = 0;
        return buffer;
    }

    /// <summary>Reads a NUL-terminated UTF-8 string; null for a null pointer.</summary>
    public static string? Read(byte* value) => value == null ? null : Marshal.PtrToStringUTF8((IntPtr)value);
}

/// <summary>A temporary array of native UTF-8 strings (names, option keys), freed together.</summary>
internal sealed unsafe class Utf8Array : IDisposable
{
    private readonly byte*[] _owned;
    private readonly IntPtr* _pointers;

    public Utf8Array(IReadOnlyList<string> values)
    {
        Count = values.Count;
        _owned = new byte*[Count];
        _pointers = (IntPtr*)NativeMemory.AllocZeroed((nuint)Math.Max(Count, 1), (nuint)sizeof(IntPtr));
        for (var i = 0; i < Count; i++)
        {
            _owned[i] = Utf8.Allocate(values[i]);
            _pointers[i] = (IntPtr)_owned[i];
        }
    }

    public Utf8Array(IReadOnlyList<ReadOnlyMemory<byte>> values)
    {
        Count = values.Count;
        _owned = new byte*[Count];
        _pointers = (IntPtr*)NativeMemory.AllocZeroed((nuint)Math.Max(Count, 1), (nuint)sizeof(IntPtr));
        for (var i = 0; i < Count; i++)
        {
            _owned[i] = Utf8.Allocate(values[i].Span);
            _pointers[i] = (IntPtr)_owned[i];
        }
    }

    public int Count { get; }

    /// <summary>The <c>const char* const*</c> array.</summary>
    public byte** Pointers => (byte**)_pointers;

    public void Dispose()
    {
        foreach (var pointer in _owned)
        {
            NativeMemory.Free(pointer);
        }

        NativeMemory.Free(_pointers);
    }
}
