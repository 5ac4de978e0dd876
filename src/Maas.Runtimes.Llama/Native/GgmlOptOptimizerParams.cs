using System.Runtime.InteropServices;

namespace Maas.Runtimes.Llama.Native;

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
