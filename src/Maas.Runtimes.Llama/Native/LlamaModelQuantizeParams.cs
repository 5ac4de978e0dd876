using System.Runtime.InteropServices;

namespace Maas.Runtimes.Llama.Native;

/// <summary>Mirror of <c>struct llama_model_quantize_params</c> of the pinned llama.h, field for field.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct LlamaModelQuantizeParams
{
    public int NThread;
    public LlamaFileType Ftype;
    public uint OutputTensorType;           // enum ggml_type (GGML_TYPE_COUNT: keep the default)
    public uint TokenEmbeddingType;         // enum ggml_type
    public byte AllowRequantize;
    public byte QuantizeOutputTensor;
    public byte OnlyCopy;
    public byte Pure;
    public byte KeepSplit;
    public byte DryRun;
    public IntPtr Imatrix;                  // const struct llama_model_imatrix_data *
    public IntPtr KvOverrides;              // const struct llama_model_kv_override *
    public IntPtr TtOverrides;              // const struct llama_model_tensor_override *
    public IntPtr PruneLayers;              // const int32_t *
    public nuint MaxBufSize;
}
