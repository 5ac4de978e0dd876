using System.Runtime.InteropServices;
using Maas.Runtimes.Llama.Native.Load;

namespace Maas.Runtimes.Llama.Native;

internal static unsafe partial class NativeApi
{
    // --- llama.h: training ---

    [LibraryImport(LlamaLibrary.Llama)]
    internal static partial void llama_opt_init(SafeLlamaContextHandle context, SafeLlamaModelHandle model, LlamaOptParams parameters);

    [LibraryImport(LlamaLibrary.Llama)]
    internal static partial void llama_opt_epoch(
        SafeLlamaContextHandle context,
        SafeGgmlOptDatasetHandle dataset,
        IntPtr resultTrain,
        IntPtr resultEval,
        long idataSplit,
        delegate* unmanaged[Cdecl]<byte, IntPtr, IntPtr, IntPtr, long, long, long, void> callbackTrain,
        delegate* unmanaged[Cdecl]<byte, IntPtr, IntPtr, IntPtr, long, long, long, void> callbackEval);

    [LibraryImport(LlamaLibrary.Llama, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial void llama_model_save_to_file(SafeLlamaModelHandle model, string path);

    // --- ggml-opt.h ---

    [LibraryImport(LlamaLibrary.GgmlBase)]
    internal static partial IntPtr ggml_opt_dataset_init(uint typeData, uint typeLabel, long neDatapoint, long neLabel, long ndata, long ndataShard);

    [LibraryImport(LlamaLibrary.GgmlBase)]
    internal static partial void ggml_opt_dataset_free(IntPtr dataset);

    [LibraryImport(LlamaLibrary.GgmlBase)]
    internal static partial IntPtr ggml_opt_dataset_data(SafeGgmlOptDatasetHandle dataset);

    [LibraryImport(LlamaLibrary.GgmlBase)]
    internal static partial IntPtr ggml_opt_dataset_labels(SafeGgmlOptDatasetHandle dataset);

    [LibraryImport(LlamaLibrary.GgmlBase)]
    internal static partial IntPtr ggml_opt_labels(IntPtr optContext);

    [LibraryImport(LlamaLibrary.GgmlBase)]
    internal static partial GgmlOptOptimizerParams ggml_opt_get_default_optimizer_params(IntPtr userData);

    // --- ggml.h / ggml-backend.h: reading and writing the tensors the training graph hands to the callbacks ---

    [LibraryImport(LlamaLibrary.GgmlBase)]
    internal static partial byte* ggml_get_name(IntPtr tensor);

    [LibraryImport(LlamaLibrary.GgmlBase)]
    internal static partial void* ggml_get_data(IntPtr tensor);

    [LibraryImport(LlamaLibrary.GgmlBase)]
    internal static partial long ggml_nelements(IntPtr tensor);

    [LibraryImport(LlamaLibrary.GgmlBase)]
    internal static partial long ggml_nrows(IntPtr tensor);

    [LibraryImport(LlamaLibrary.GgmlBase)]
    internal static partial void ggml_backend_tensor_get(IntPtr tensor, void* data, nuint offset, nuint size);

    [LibraryImport(LlamaLibrary.GgmlBase)]
    internal static partial void ggml_backend_tensor_set(IntPtr tensor, void* data, nuint offset, nuint size);
}
