using System.Runtime.InteropServices;

namespace Maas.Runtimes.Onnx.Native;

/// <summary>Every call MaaS makes into ONNX Runtime, through the function pointers of the OrtApi table.</summary>
/// <remarks>
/// Calls use the platform's default unmanaged convention, which is what ORT_API_CALL means (stdcall on 32-bit
/// Windows, the C convention everywhere else). Each returned OrtStatus is turned into an
/// <see cref="OnnxRuntimeException"/> and released.
/// </remarks>
internal static unsafe partial class OrtNative
{
    // OrtAllocatorType and OrtMemType values from the header.
    private const int OrtDeviceAllocator = 0;
    private const int OrtMemTypeDefault = 0;

    private static IntPtr _defaultAllocator;

    /// <summary>Throws the status as an exception (and releases it) when it is not success.</summary>
    public static void Check(IntPtr status)
    {
        if (status != IntPtr.Zero)
        {
            throw ToException(status);
        }
    }

    /// <summary>Reads code and message from a failed status, releases it, and returns the exception to throw.</summary>
    public static OnnxRuntimeException ToException(IntPtr status)
    {
        var code = ((delegate* unmanaged<IntPtr, int>)OrtLibrary.Fn(OrtApiSlot.GetErrorCode))(status);
        var message = Utf8.Read(((delegate* unmanaged<IntPtr, byte*>)OrtLibrary.Fn(OrtApiSlot.GetErrorMessage))(status)) ?? "";
        ((delegate* unmanaged<IntPtr, void>)OrtLibrary.Fn(OrtApiSlot.ReleaseStatus))(status);
        return new OnnxRuntimeException((OnnxRuntimeErrorCode)code, message);
    }

    /// <summary>CreateStatus then the same path as a failed call: used to prove the status slots by behaviour.</summary>
    public static OnnxRuntimeException RoundTripStatus(OnnxRuntimeErrorCode code, string message)
    {
        var text = Utf8.Allocate(message);
        try
        {
            var status = ((delegate* unmanaged<int, byte*, IntPtr>)OrtLibrary.Fn(OrtApiSlot.CreateStatus))((int)code, text);
            return ToException(status);
        }
        finally
        {
            NativeMemory.Free(text);
        }
    }

    /// <summary>The environment, with ONNX Runtime's log messages sent to <see cref="OrtLogging"/>.</summary>
    public static OrtEnvHandle CreateEnv(int severity, string logId)
    {
        var id = Utf8.Allocate(logId);
        try
        {
            IntPtr env;
            var create = (delegate* unmanaged<delegate* unmanaged<IntPtr, int, byte*, byte*, byte*, byte*, void>, IntPtr, int, byte*, IntPtr*, IntPtr>)
                OrtLibrary.Fn(OrtApiSlot.CreateEnvWithCustomLogger);
            Check(create(OrtLogging.Callback, IntPtr.Zero, severity, id, &env));
            var handle = new OrtEnvHandle(env);

            // Telemetry is an ETW feature on Windows; a server should not emit it unasked.
            using var lease = new HandleLease(handle);
            Check(((delegate* unmanaged<IntPtr, IntPtr>)OrtLibrary.Fn(OrtApiSlot.DisableTelemetryEvents))(lease.Pointer));
            return handle;
        }
        finally
        {
            NativeMemory.Free(id);
        }
    }

    /// <summary>The execution providers compiled into this build (e.g. "CPUExecutionProvider").</summary>
    public static string[] AvailableProviders()
    {
        byte** names;
        int count;
        Check(((delegate* unmanaged<byte***, int*, IntPtr>)OrtLibrary.Fn(OrtApiSlot.GetAvailableProviders))(&names, &count));
        try
        {
            var result = new string[count];
            for (var i = 0; i < count; i++)
            {
                result[i] = Utf8.Read(names[i]) ?? "";
            }

            return result;
        }
        finally
        {
            Check(((delegate* unmanaged<byte**, int, IntPtr>)OrtLibrary.Fn(OrtApiSlot.ReleaseAvailableProviders))(names, count));
        }
    }

    /// <summary>Memory info for plain CPU memory owned by the caller (device allocator, default memory type).</summary>
    public static OrtMemoryInfoHandle CreateCpuMemoryInfo()
    {
        IntPtr info;
        Check(((delegate* unmanaged<int, int, IntPtr*, IntPtr>)OrtLibrary.Fn(OrtApiSlot.CreateCpuMemoryInfo))(OrtDeviceAllocator, OrtMemTypeDefault, &info));
        return new OrtMemoryInfoHandle(info);
    }

    /// <summary>The name, device id, memory type and allocator type recorded in a memory info.</summary>
    public static (string Name, int Id, int MemType, int AllocatorType) DescribeMemoryInfo(OrtMemoryInfoHandle info)
    {
        using var lease = new HandleLease(info);
        byte* name;
        int id, memType, allocatorType;
        Check(((delegate* unmanaged<IntPtr, byte**, IntPtr>)OrtLibrary.Fn(OrtApiSlot.MemoryInfoGetName))(lease.Pointer, &name));
        Check(((delegate* unmanaged<IntPtr, int*, IntPtr>)OrtLibrary.Fn(OrtApiSlot.MemoryInfoGetId))(lease.Pointer, &id));
        Check(((delegate* unmanaged<IntPtr, int*, IntPtr>)OrtLibrary.Fn(OrtApiSlot.MemoryInfoGetMemType))(lease.Pointer, &memType));
        Check(((delegate* unmanaged<IntPtr, int*, IntPtr>)OrtLibrary.Fn(OrtApiSlot.MemoryInfoGetType))(lease.Pointer, &allocatorType));
        return (Utf8.Read(name) ?? "", id, memType, allocatorType);
    }

    /// <summary>ONNX Runtime's default CPU allocator: a process-wide singleton that is never freed.</summary>
    private static IntPtr DefaultAllocator()
    {
        if (_defaultAllocator == IntPtr.Zero)
        {
            IntPtr allocator;
            Check(((delegate* unmanaged<IntPtr*, IntPtr>)OrtLibrary.Fn(OrtApiSlot.GetAllocatorWithDefaultOptions))(&allocator));
            _defaultAllocator = allocator;
        }

        return _defaultAllocator;
    }

    /// <summary>Frees memory that ONNX Runtime allocated with the default allocator (names, key arrays).</summary>
    private static void FreeWithDefaultAllocator(void* pointer)
    {
        if (pointer != null)
        {
            Check(((delegate* unmanaged<IntPtr, void*, IntPtr>)OrtLibrary.Fn(OrtApiSlot.AllocatorFree))(DefaultAllocator(), pointer));
        }
    }

    /// <summary>Reads a string ONNX Runtime allocated with the default allocator, then frees it.</summary>
    private static string? TakeAllocatedString(byte* value)
    {
        try
        {
            return Utf8.Read(value);
        }
        finally
        {
            FreeWithDefaultAllocator(value);
        }
    }
}
