using Microsoft.Win32.SafeHandles;

namespace Maas.Runtimes.Ggml.Native;

/// <summary>Owns a <c>ggml_context</c> (tensor and graph metadata; with no_alloc their data lives in a backend buffer).</summary>
internal sealed class SafeGgmlContextHandle : SafeHandleZeroOrMinusOneIsInvalid
{
    public SafeGgmlContextHandle()
        : base(ownsHandle: true)
    {
    }

    /// <summary>Takes ownership of <paramref name="raw"/>, or throws naming the call that returned nothing.</summary>
    public static SafeGgmlContextHandle Wrap(IntPtr raw, string what)
    {
        if (raw == IntPtr.Zero)
        {
            throw new GgmlException($"{what} returned nothing");
        }

        var handle = new SafeGgmlContextHandle();
        handle.SetHandle(raw);
        return handle;
    }

    protected override bool ReleaseHandle()
    {
        GgmlApi.ggml_free(handle);
        return true;
    }
}
