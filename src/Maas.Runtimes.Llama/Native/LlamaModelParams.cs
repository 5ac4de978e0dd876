using System.Runtime.InteropServices;

namespace Maas.Runtimes.Llama.Native;

/// <summary>Mirror of <c>struct llama_model_params</c> of the pinned llama.h, field for field.</summary>
/// <remarks>C <c>bool</c> is one byte: mirrored as <see cref="byte"/> so the struct stays blittable.</remarks>
[StructLayout(LayoutKind.Sequential)]
internal struct LlamaModelParams
{
    public IntPtr Devices;                  // ggml_backend_dev_t *
    public IntPtr TensorBuftOverrides;      // const struct llama_model_tensor_buft_override *
    public int NGpuLayers;
    public LlamaSplitMode SplitMode;
    public LlamaLoadMode LoadMode;
    public LlamaLazyMode LazyMode;
    public int MainGpu;
    public IntPtr TensorSplit;              // const float *
    public IntPtr ProgressCallback;         // llama_progress_callback
    public IntPtr ProgressCallbackUserData; // void *
    public IntPtr KvOverrides;              // const struct llama_model_kv_override *
    public byte VocabOnly;
    public byte CheckTensors;
    public byte UseExtraBufts;
    public byte NoHost;
    public byte NoAlloc;
    public byte LoadMtp;
}
