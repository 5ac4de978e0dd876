using Microsoft.Win32.SafeHandles;

namespace Maas.Runtimes.Ggml.Native;

/// <summary>Owns a <c>ggml_backend_sched_t</c> (allocates and runs graphs on the backends).</summary>
internal sealed class SafeGgmlSchedHandle : SafeHandleZeroOrMinusOneIsInvalid
{
    public SafeGgmlSchedHandle()
        : base(ownsHandle: true)
    {
    }

    /// <summary>Takes ownership of <paramref name="raw"/>, or throws naming the call that returned nothing.</summary>
    public static SafeGgmlSchedHandle Wrap(IntPtr raw, string what)
    {
        if (raw == IntPtr.Zero)
        {
            throw new GgmlException($"{what} returned nothing");
        }

        var handle = new SafeGgmlSchedHandle();
        handle.SetHandle(raw);
        return handle;
    }

    protected override bool ReleaseHandle()
    {
        GgmlApi.ggml_backend_sched_free(handle);
        return true;
    }
}
