using Microsoft.Win32.SafeHandles;

namespace Maas.Runtimes.Ggml.Native;

/// <summary>Owns a <c>ggml_backend_buffer_t</c> (the memory behind a context's tensors).</summary>
internal sealed class SafeGgmlBufferHandle : SafeHandleZeroOrMinusOneIsInvalid
{
    public SafeGgmlBufferHandle()
        : base(ownsHandle: true)
    {
    }

    /// <summary>Takes ownership of <paramref name="raw"/>, or throws naming the call that returned nothing.</summary>
    public static SafeGgmlBufferHandle Wrap(IntPtr raw, string what)
    {
        if (raw == IntPtr.Zero)
        {
            throw new GgmlException($"{what} returned nothing");
        }

        var handle = new SafeGgmlBufferHandle();
        handle.SetHandle(raw);
        return handle;
    }

    protected override bool ReleaseHandle()
    {
        GgmlApi.ggml_backend_buffer_free(handle);
        return true;
    }
}
