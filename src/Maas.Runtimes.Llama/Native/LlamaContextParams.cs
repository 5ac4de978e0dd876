using System.Runtime.InteropServices;

namespace Maas.Runtimes.Llama.Native;

/// <summary>Mirror of <c>struct llama_context_params</c> of the pinned llama.h, field for field.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct LlamaContextParams
{
    public uint NCtx;
    public uint NBatch;
    public uint NUbatch;
    public uint NSeqMax;
    public uint NRsSeq;
    public uint NOutputsMax;
    public uint NOutputsMaxPerSeq;
    public int NThreads;
    public int NThreadsBatch;
    public LlamaContextType CtxType;
    public LlamaRopeScalingType RopeScalingType;
    public LlamaPoolingType PoolingType;
    public LlamaAttentionType AttentionType;
    public LlamaFlashAttention FlashAttnType;
    public float RopeFreqBase;
    public float RopeFreqScale;
    public float YarnExtFactor;
    public float YarnAttnFactor;
    public float YarnBetaFast;
    public float YarnBetaSlow;
    public uint YarnOrigCtx;
    public float DefragThold;
    public IntPtr CbEval;                   // ggml_backend_sched_eval_callback
    public IntPtr CbEvalUserData;
    public uint TypeK;                      // enum ggml_type (a uint here: types from other assemblies are not blittable for LibraryImport)
    public uint TypeV;
    public IntPtr AbortCallback;            // ggml_abort_callback
    public IntPtr AbortCallbackData;
    public byte Embeddings;
    public byte OffloadKqv;
    public byte NoPerf;
    public byte OpOffload;
    public byte SwaFull;
    public byte KvUnified;
    public IntPtr Samplers;                 // struct llama_sampler_seq_config *
    public nuint NSamplers;
    public IntPtr CtxOther;                 // struct llama_context *
}
