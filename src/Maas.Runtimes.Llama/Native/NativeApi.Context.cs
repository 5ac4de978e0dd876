using System.Runtime.InteropServices;
using Maas.Runtimes.Llama.Native.Load;

namespace Maas.Runtimes.Llama.Native;

internal static unsafe partial class NativeApi
{
    [LibraryImport(LlamaLibrary.Llama)]
    internal static partial LlamaContextParams llama_context_default_params();

    [LibraryImport(LlamaLibrary.Llama)]
    internal static partial IntPtr llama_init_from_model(SafeLlamaModelHandle model, LlamaContextParams parameters);

    [LibraryImport(LlamaLibrary.Llama)]
    internal static partial void llama_free(IntPtr context);

    [LibraryImport(LlamaLibrary.Llama)]
    internal static partial uint llama_n_ctx(SafeLlamaContextHandle context);

    [LibraryImport(LlamaLibrary.Llama)]
    internal static partial uint llama_n_ctx_seq(SafeLlamaContextHandle context);

    [LibraryImport(LlamaLibrary.Llama)]
    internal static partial uint llama_n_batch(SafeLlamaContextHandle context);

    [LibraryImport(LlamaLibrary.Llama)]
    internal static partial uint llama_n_ubatch(SafeLlamaContextHandle context);

    [LibraryImport(LlamaLibrary.Llama)]
    internal static partial uint llama_n_seq_max(SafeLlamaContextHandle context);

    [LibraryImport(LlamaLibrary.Llama)]
    internal static partial IntPtr llama_get_memory(SafeLlamaContextHandle context);

    [LibraryImport(LlamaLibrary.Llama)]
    internal static partial LlamaPoolingType llama_pooling_type(SafeLlamaContextHandle context);

    [LibraryImport(LlamaLibrary.Llama)]
    internal static partial void llama_set_n_threads(SafeLlamaContextHandle context, int threads, int batchThreads);

    [LibraryImport(LlamaLibrary.Llama)]
    internal static partial int llama_n_threads(SafeLlamaContextHandle context);

    [LibraryImport(LlamaLibrary.Llama)]
    internal static partial int llama_n_threads_batch(SafeLlamaContextHandle context);

    [LibraryImport(LlamaLibrary.Llama)]
    internal static partial void llama_set_embeddings(SafeLlamaContextHandle context, [MarshalAs(UnmanagedType.U1)] bool embeddings);

    [LibraryImport(LlamaLibrary.Llama)]
    internal static partial void llama_set_causal_attn(SafeLlamaContextHandle context, [MarshalAs(UnmanagedType.U1)] bool causal);

    [LibraryImport(LlamaLibrary.Llama)]
    internal static partial void llama_set_abort_callback(SafeLlamaContextHandle context, delegate* unmanaged[Cdecl]<IntPtr, byte> callback, IntPtr data);

    [LibraryImport(LlamaLibrary.Llama)]
    internal static partial void llama_synchronize(SafeLlamaContextHandle context);

    [LibraryImport(LlamaLibrary.Llama)]
    internal static partial float* llama_get_logits_ith(SafeLlamaContextHandle context, int index);

    [LibraryImport(LlamaLibrary.Llama)]
    internal static partial float* llama_get_embeddings_ith(SafeLlamaContextHandle context, int index);

    [LibraryImport(LlamaLibrary.Llama)]
    internal static partial float* llama_get_embeddings_seq(SafeLlamaContextHandle context, int sequence);

    [LibraryImport(LlamaLibrary.Llama)]
    internal static partial LlamaPerfContextData llama_perf_context(SafeLlamaContextHandle context);

    [LibraryImport(LlamaLibrary.Llama)]
    internal static partial void llama_perf_context_reset(SafeLlamaContextHandle context);
}
