using Microsoft.Win32.SafeHandles;

namespace Maas.Runtimes.Ggml.Native;

/// <summary>Owns a <c>ggml_backend_t</c> (a compute stream on one device).</summary>
internal sealed class SafeGgmlBackendHandle : SafeHandleZeroOrMinusOneIsInvalid
{
    public SafeGgmlBackendHandle()
        : base(ownsHandle: true)
    {
    }

    /// <summary>Takes ownership of <paramref name="raw"/>, or throws naming the call that returned nothing.</summary>
    public static SafeGgmlBackendHandle Wrap(IntPtr raw, string what)
    {
        if (raw == IntPtr.Zero)
        {
            throw new GgmlException($"{what} returned nothing");
        }

        var handle = new SafeGgmlBackendHandle();
        handle.SetHandle(raw);
        return handle;
    }

    protected override bool ReleaseHandle()
    {
        GgmlApi.ggml_backend_free(handle);
        return true;
    }
}
