using System.Runtime.InteropServices;

namespace Maas.Runtimes.Llama.Native;

/// <summary>Keeps a SafeHandle's native object alive while its raw pointer (or one derived from it) is in use.</summary>
internal ref struct SafeHandleLease
{
    private readonly SafeHandle handle;
    private bool added;

    public SafeHandleLease(SafeHandle handle)
    {
        this.handle = handle;
        handle.DangerousAddRef(ref added); // throws ObjectDisposedException once the owner was disposed
    }

    public readonly IntPtr Pointer => handle.DangerousGetHandle();

    public void Dispose()
    {
        if (added)
        {
            handle.DangerousRelease();
            added = false;
        }
    }
}
