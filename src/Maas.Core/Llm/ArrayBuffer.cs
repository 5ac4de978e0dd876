using System.Buffers;

namespace Maas.Core.Llm;

/// <summary>A managed array as a buffer owner (nothing to free).</summary>
public sealed class ArrayBuffer(byte[] array) : IMemoryOwner<byte>
{
    /// <summary>The array.</summary>
    public byte[] Array { get; } = array;

    /// <inheritdoc/>
    public Memory<byte> Memory => Array;

    /// <summary>A new array of <paramref name="bytes"/> bytes, not zeroed.</summary>
    public static IMemoryOwner<byte> Allocate(int bytes) => new ArrayBuffer(GC.AllocateUninitializedArray<byte>(bytes));

    /// <inheritdoc/>
    public void Dispose()
    {
    }
}
