using System.Runtime.InteropServices;

namespace Maas.Runtimes.Ggml.Native;

/// <summary><c>struct ggml_init_params</c> (ggml.h).</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct GgmlInitParams
{
    public nuint MemSize;
    public IntPtr MemBuffer;

    /// <summary>C bool: 1 leaves tensor data unallocated (a backend buffer holds it).</summary>
    public byte NoAlloc;
}

/// <summary><c>struct ggml_opt_optimizer_params</c> (ggml-opt.h): AdamW's then SGD's settings, flattened.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct GgmlOptOptimizerParams
{
    public float AdamwAlpha;
    public float AdamwBeta1;
    public float AdamwBeta2;
    public float AdamwEps;
    public float AdamwWd;
    public float SgdAlpha;
    public float SgdWd;
}

/// <summary><c>struct ggml_opt_params</c> (ggml-opt.h).</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct GgmlOptParams
{
    public IntPtr BackendSched;
    public IntPtr CtxCompute;
    public IntPtr Inputs;
    public IntPtr Outputs;
    public GgmlOptLossType LossType;
    public int BuildType;
    public int OptPeriod;
    public IntPtr GetOptPars;
    public IntPtr GetOptParsUserData;
    public GgmlOptimizerType Optimizer;
}

/// <summary>
/// The head of <c>struct ggml_tensor</c> (ggml.h) up to its sources: sizes, read to check shapes ggml computed, and
/// sources, read to reach the AdamW moments ggml-opt keeps as the third and fourth source of each optimiser step.
/// </summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct GgmlTensorHead
{
    public GgmlType Type;
    public IntPtr Buffer;
    public fixed long Ne[4];
    public fixed ulong Nb[4];
    public int Op;

    /// <summary>GGML_MAX_OP_PARAMS (64 bytes) as int32s.</summary>
    public fixed int OpParams[16];
    public int Flags;

    /// <summary>GGML_MAX_SRC (10) tensor pointers.</summary>
    public fixed long Src[10];
}

/// <summary><c>enum ggml_type</c>: the element types MaaS uses.</summary>
internal enum GgmlType
{
    F32 = 0,
    I32 = 26,
}

/// <summary><c>enum ggml_opt_loss_type</c>.</summary>
internal enum GgmlOptLossType
{
    Mean = 0,
    Sum = 1,
    CrossEntropy = 2,
    MeanSquaredError = 3,
}

/// <summary><c>enum ggml_opt_optimizer_type</c>.</summary>
internal enum GgmlOptimizerType
{
    AdamW = 0,
    Sgd = 1,
}

/// <summary><c>enum ggml_op_pool</c>.</summary>
internal enum GgmlPool
{
    Max = 0,
    Average = 1,
}

/// <summary><c>enum ggml_backend_dev_type</c>.</summary>
internal enum GgmlDeviceType
{
    Cpu = 0,
    Gpu = 1,
    IntegratedGpu = 2,
    Accelerator = 3,
}
