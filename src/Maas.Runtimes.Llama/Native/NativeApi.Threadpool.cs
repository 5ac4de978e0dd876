using System.Runtime.InteropServices;
using Maas.Runtimes.Llama.Native.Load;

namespace Maas.Runtimes.Llama.Native;

internal static unsafe partial class NativeApi
{
    private static ThreadpoolFunctions? threadpoolFunctions;

    [LibraryImport(LlamaLibrary.GgmlBase)]
    internal static partial void ggml_threadpool_params_init(GgmlThreadpoolParams* parameters, int threads);

    [LibraryImport(LlamaLibrary.Ggml, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial IntPtr ggml_backend_reg_by_name(string name);

    [LibraryImport(LlamaLibrary.GgmlBase, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial IntPtr ggml_backend_reg_get_proc_address(IntPtr registry, string name);

    [LibraryImport(LlamaLibrary.Llama)]
    internal static partial void llama_attach_threadpool(SafeLlamaContextHandle context, IntPtr threadpool, IntPtr batchThreadpool);

    [LibraryImport(LlamaLibrary.Llama)]
    internal static partial void llama_detach_threadpool(IntPtr context);

    /// <summary>
    /// ggml_threadpool_new/free live in the CPU backend library that ggml picked at run time (one per instruction set),
    /// so they are looked up through the backend registry, as llama.cpp's own tools do; null without a CPU backend.
    /// </summary>
    internal static ThreadpoolFunctions? Threadpools()
    {
        if (threadpoolFunctions is { } known)
        {
            return known.Available ? known : null;
        }

        // Before the backends are loaded there is no CPU registry yet: look again next time.
        var registry = ggml_backend_reg_by_name("CPU");
        if (registry == IntPtr.Zero)
        {
            return null;
        }

        var create = ggml_backend_reg_get_proc_address(registry, "ggml_threadpool_new");
        var free = ggml_backend_reg_get_proc_address(registry, "ggml_threadpool_free");
        var functions = new ThreadpoolFunctions(
            (delegate* unmanaged[Cdecl]<GgmlThreadpoolParams*, IntPtr>)create,
            (delegate* unmanaged[Cdecl]<IntPtr, void>)free);
        threadpoolFunctions = functions;
        return functions.Available ? functions : null;
    }

    /// <summary>The CPU backend's thread pool entry points.</summary>
    internal sealed class ThreadpoolFunctions(delegate* unmanaged[Cdecl]<GgmlThreadpoolParams*, IntPtr> create, delegate* unmanaged[Cdecl]<IntPtr, void> free)
    {
        public bool Available => create != null && free != null;

        public IntPtr Create(GgmlThreadpoolParams* parameters) => create(parameters);

        public void Free(IntPtr threadpool) => free(threadpool);
    }
}
