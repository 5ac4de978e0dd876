using System.Runtime.InteropServices;
using Maas.Runtimes.Llama.Native.Load;

namespace Maas.Runtimes.Llama.Native;

/// <summary>The llama.cpp and ggml C functions MaaS calls, one partial file per area of llama.h.</summary>
internal static unsafe partial class NativeApi
{
    // An explicit static constructor runs before the first P/Invoke of this class, so the resolver is always in place.
    static NativeApi() => LlamaLibrary.RegisterResolver();

    [LibraryImport(LlamaLibrary.Llama)]
    internal static partial void llama_backend_init();

    [LibraryImport(LlamaLibrary.Llama)]
    internal static partial void llama_backend_free();

    [LibraryImport(LlamaLibrary.Llama)]
    internal static partial byte* llama_print_system_info();

    [LibraryImport(LlamaLibrary.Llama)]
    internal static partial byte* llama_version();

    [LibraryImport(LlamaLibrary.Llama)]
    [return: MarshalAs(UnmanagedType.U1)]
    internal static partial bool llama_supports_mmap();

    [LibraryImport(LlamaLibrary.Llama)]
    [return: MarshalAs(UnmanagedType.U1)]
    internal static partial bool llama_supports_mlock();

    [LibraryImport(LlamaLibrary.Llama)]
    [return: MarshalAs(UnmanagedType.U1)]
    internal static partial bool llama_supports_gpu_offload();

    [LibraryImport(LlamaLibrary.Llama)]
    internal static partial nuint llama_max_devices();

    [LibraryImport(LlamaLibrary.Llama)]
    internal static partial nuint llama_max_parallel_sequences();

    [LibraryImport(LlamaLibrary.Llama)]
    internal static partial void llama_log_set(delegate* unmanaged[Cdecl]<GgmlLogLevel, byte*, IntPtr, void> callback, IntPtr userData);

    [LibraryImport(LlamaLibrary.Ggml, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial void ggml_backend_load_all_from_path(string directory);

    [LibraryImport(LlamaLibrary.Ggml)]
    internal static partial nuint ggml_backend_dev_count();

    [LibraryImport(LlamaLibrary.Ggml)]
    internal static partial IntPtr ggml_backend_dev_get(nuint index);

    [LibraryImport(LlamaLibrary.Ggml)]
    internal static partial byte* ggml_backend_dev_name(IntPtr device);

    [LibraryImport(LlamaLibrary.Ggml)]
    internal static partial byte* ggml_backend_dev_description(IntPtr device);

    [LibraryImport(LlamaLibrary.Ggml)]
    internal static partial LlamaDeviceType ggml_backend_dev_type(IntPtr device);

    [LibraryImport(LlamaLibrary.Ggml)]
    internal static partial void ggml_backend_dev_memory(IntPtr device, out nuint free, out nuint total);

    /// <summary>llama.cpp's build and CPU feature summary.</summary>
    internal static string SystemInfo() => Utf8(llama_print_system_info()) ?? string.Empty;

    /// <summary>A UTF-8 C string owned by the library as a .NET string (null stays null).</summary>
    internal static string? Utf8(byte* text) => text == null ? null : Marshal.PtrToStringUTF8((IntPtr)text);

    /// <summary>The devices ggml registered: (name, description, type, free bytes, total bytes).</summary>
    internal static List<LlamaDevice> Devices()
    {
        var devices = new List<LlamaDevice>();
        var count = ggml_backend_dev_count();
        for (nuint i = 0; i < count; i++)
        {
            var device = ggml_backend_dev_get(i);
            ggml_backend_dev_memory(device, out var free, out var total);
            devices.Add(new LlamaDevice(
                Utf8(ggml_backend_dev_name(device)) ?? $"device{i}",
                Utf8(ggml_backend_dev_description(device)) ?? string.Empty,
                ggml_backend_dev_type(device),
                (long)free,
                (long)total));
        }

        return devices;
    }
}
