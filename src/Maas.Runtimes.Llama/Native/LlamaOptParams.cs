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
