using System.Buffers;
using System.Runtime.InteropServices;

namespace Maas.Runtimes.Onnx.Native;

/// <summary>An ONNX Runtime object released through its Release* slot of the API table.</summary>
internal abstract unsafe class OrtHandle : SafeHandle
{
    private readonly OrtApiSlot _release;

    protected OrtHandle(IntPtr pointer, OrtApiSlot release)
        : base(IntPtr.Zero, ownsHandle: true)
    {
        _release = release;
        SetHandle(pointer);
    }

    public override bool IsInvalid => handle == IntPtr.Zero;

    protected override bool ReleaseHandle()
    {
        ((delegate* unmanaged<IntPtr, void>)OrtLibrary.Fn(_release))(handle);
        return true;
    }
}

/// <summary>Keeps a handle alive (and not released by a concurrent Dispose) for the length of one native call.</summary>
internal readonly ref struct HandleLease
{
    private readonly SafeHandle? _handle;

    public HandleLease(SafeHandle? handle)
    {
        if (handle is null)
        {
            Pointer = IntPtr.Zero;
            _handle = null;
            return;
        }

        var added = false;
        handle.DangerousAddRef(ref added);
        _handle = handle;
        Pointer = handle.DangerousGetHandle();
    }

    public IntPtr Pointer { get; }

    public void Dispose() => _handle?.DangerousRelease();
}

/// <summary>OrtEnv: one per process.</summary>
internal sealed class OrtEnvHandle(IntPtr pointer) : OrtHandle(pointer, OrtApiSlot.ReleaseEnv);

/// <summary>OrtSessionOptions.</summary>
internal sealed class OrtSessionOptionsHandle(IntPtr pointer) : OrtHandle(pointer, OrtApiSlot.ReleaseSessionOptions);

/// <summary>OrtRunOptions.</summary>
internal sealed class OrtRunOptionsHandle(IntPtr pointer) : OrtHandle(pointer, OrtApiSlot.ReleaseRunOptions);

/// <summary>OrtMemoryInfo.</summary>
internal sealed class OrtMemoryInfoHandle(IntPtr pointer) : OrtHandle(pointer, OrtApiSlot.ReleaseMemoryInfo);

/// <summary>OrtTypeInfo (owned; the tensor info cast from it is not).</summary>
internal sealed class OrtTypeInfoHandle(IntPtr pointer) : OrtHandle(pointer, OrtApiSlot.ReleaseTypeInfo);

/// <summary>OrtTensorTypeAndShapeInfo returned by GetTensorTypeAndShape.</summary>
internal sealed class OrtTensorTypeAndShapeInfoHandle(IntPtr pointer) : OrtHandle(pointer, OrtApiSlot.ReleaseTensorTypeAndShapeInfo);

/// <summary>OrtModelMetadata.</summary>
internal sealed class OrtModelMetadataHandle(IntPtr pointer) : OrtHandle(pointer, OrtApiSlot.ReleaseModelMetadata);

/// <summary>OrtSession, with the UTF-8 names of its inputs and outputs kept in native memory for Run.</summary>
internal sealed unsafe class OrtSessionHandle : OrtHandle
{
    private Dictionary<string, IntPtr> _names = [];

    public OrtSessionHandle(IntPtr pointer)
        : base(pointer, OrtApiSlot.ReleaseSession)
    {
    }

    /// <summary>Marshals the session's own names once, so a Run does not allocate for them.</summary>
    public void CacheNames(IEnumerable<string> names)
    {
        var cache = new Dictionary<string, IntPtr>(StringComparer.Ordinal);
        foreach (var name in names)
        {
            if (!cache.ContainsKey(name))
            {
                cache[name] = (IntPtr)Utf8.Allocate(name);
            }
        }

        _names = cache;
    }

    /// <summary>The cached UTF-8 copy of <paramref name="name"/>, or zero when it is not one of the session's names.</summary>
    public IntPtr CachedName(string name) => _names.GetValueOrDefault(name);

    protected override bool ReleaseHandle()
    {
        base.ReleaseHandle();
        foreach (var pointer in _names.Values)
        {
            NativeMemory.Free((void*)pointer);
        }

        _names = [];
        return true;
    }
}

/// <summary>OrtIoBinding; holds its session alive, since ONNX Runtime requires the session to outlive the binding.</summary>
internal sealed class OrtIoBindingHandle : OrtHandle
{
    private readonly OrtSessionHandle _session;

    public OrtIoBindingHandle(IntPtr pointer, OrtSessionHandle session)
        : base(pointer, OrtApiSlot.ReleaseIoBinding)
    {
        var added = false;
        session.DangerousAddRef(ref added);
        _session = session;
    }

    protected override bool ReleaseHandle()
    {
        base.ReleaseHandle();
        _session.DangerousRelease();
        return true;
    }
}

/// <summary>
/// OrtValue. When the tensor's data is caller memory, the pin that keeps it in place is released only after the value,
/// so ONNX Runtime never sees memory the GC has moved, even when the owner forgets to dispose.
/// </summary>
internal sealed class OrtValueHandle : OrtHandle
{
    private MemoryHandle _pin;

    public OrtValueHandle(IntPtr pointer)
        : base(pointer, OrtApiSlot.ReleaseValue)
    {
    }

    public OrtValueHandle(IntPtr pointer, MemoryHandle pin)
        : base(pointer, OrtApiSlot.ReleaseValue)
    {
        _pin = pin;
    }

    protected override bool ReleaseHandle()
    {
        base.ReleaseHandle();
        _pin.Dispose();
        _pin = default;
        return true;
    }
}
