using System.Buffers;

namespace Maas.Runtimes.Llama.Native;

/// <summary>A huge-page mapping as a buffer owner (see <see cref="SafeHugePageMemoryHandle"/>); a managed array where none can be had.</summary>
internal sealed unsafe class HugePageBuffer : MemoryManager<byte>
{
    private readonly SafeHugePageMemoryHandle _handle;

    private HugePageBuffer(SafeHugePageMemoryHandle handle) => _handle = handle;

    /// <summary>A buffer of <paramref name="bytes"/> bytes, not zeroed (fresh mappings read as zeros).</summary>
    public static IMemoryOwner<byte> Allocate(int bytes) =>
        SafeHugePageMemoryHandle.Map(bytes) is { } handle ? new HugePageBuffer(handle) : Maas.Core.Llm.ArrayBuffer.Allocate(bytes);

    public override Span<byte> GetSpan()
    {
        ObjectDisposedException.ThrowIf(_handle.IsClosed, this);
        return new Span<byte>((void*)_handle.DangerousGetHandle(), _handle.Length);
    }

    // The mapping never moves: pinning is a no-op, the pointer valid while the buffer is not disposed of.
    public override MemoryHandle Pin(int elementIndex = 0)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(elementIndex);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(elementIndex, _handle.Length);
        return new MemoryHandle((byte*)_handle.DangerousGetHandle() + elementIndex);
    }

    public override void Unpin()
    {
    }

    protected override void Dispose(bool disposing) => _handle.Dispose();
}
