using System.Runtime.InteropServices;

namespace Maas.Runtimes.Llama.Native;

/// <summary>Mirror of <c>struct llama_opt_params</c> of the pinned llama.h, field for field.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct LlamaOptParams
{
    public uint NCtxTrain;                  // 0: the context's own size
    public IntPtr ParamFilter;              // llama_opt_param_filter
    public IntPtr ParamFilterUserData;
    public IntPtr GetOptPars;               // ggml_opt_get_optimizer_params
    public IntPtr GetOptParsUserData;
    public GgmlOptOptimizerType OptimizerType;
}

/// <summary>Mirror of <c>enum ggml_opt_optimizer_type</c> of the pinned ggml-opt.h.</summary>
internal enum GgmlOptOptimizerType
{
    AdamW = 0,
    Sgd = 1,
}

/// <summary>Mirror of <c>struct ggml_opt_optimizer_params</c> of the pinned ggml-opt.h (the adamw and sgd sub-structs flattened).</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct GgmlOptOptimizerParams
{
    public float AdamWAlpha;                // learning rate
    public float AdamWBeta1;
    public float AdamWBeta2;
    public float AdamWEps;
    public float AdamWWeightDecay;
    public float SgdAlpha;
    public float SgdWeightDecay;
}
