using System.Runtime.InteropServices;
using Maas.Runtimes.Ggml.Native;
using Maas.Testing;

namespace Maas.Runtimes.Ggml.Tests.Native;

/// <summary>
/// The mirrored structs must match ggml.h and ggml-opt.h of the pinned build byte for byte. Expected numbers are
/// derived from the headers for LP64 (pointers and size_t 8 bytes, int32/enum/float 4, C bool 1), each field at the
/// next multiple of its alignment and the size rounded up to the largest alignment.
/// </summary>
public sealed class StructLayoutTests
{
    [Fact]
    public void Init_params_match_ggml_h()
    {
        // mem_size 0, mem_buffer 8, no_alloc 16, size 17 rounded up to 8 = 24.
        NativeLayout.AssertMatches<GgmlInitParams>(24, new()
        {
            [nameof(GgmlInitParams.MemSize)] = 0,
            [nameof(GgmlInitParams.MemBuffer)] = 8,
            [nameof(GgmlInitParams.NoAlloc)] = 16,
        });
    }

    [Fact]
    public void Optimizer_params_match_ggml_opt_h()
    {
        // adamw {alpha, beta1, beta2, eps, wd} 0..16, sgd {alpha, wd} 20, 24; seven floats = 28.
        NativeLayout.AssertMatches<GgmlOptOptimizerParams>(28, new()
        {
            [nameof(GgmlOptOptimizerParams.AdamwAlpha)] = 0,
            [nameof(GgmlOptOptimizerParams.AdamwBeta1)] = 4,
            [nameof(GgmlOptOptimizerParams.AdamwBeta2)] = 8,
            [nameof(GgmlOptOptimizerParams.AdamwEps)] = 12,
            [nameof(GgmlOptOptimizerParams.AdamwWd)] = 16,
            [nameof(GgmlOptOptimizerParams.SgdAlpha)] = 20,
            [nameof(GgmlOptOptimizerParams.SgdWd)] = 24,
        });
    }

    [Fact]
    public void Opt_params_match_ggml_opt_h()
    {
        // backend_sched 0, ctx_compute 8, inputs 16, outputs 24, loss_type 32, build_type 36, opt_period 40,
        // (4 padding) get_opt_pars 48, get_opt_pars_ud 56, optimizer 64, size 68 rounded up to 8 = 72.
        NativeLayout.AssertMatches<GgmlOptParams>(72, new()
        {
            [nameof(GgmlOptParams.BackendSched)] = 0,
            [nameof(GgmlOptParams.CtxCompute)] = 8,
            [nameof(GgmlOptParams.Inputs)] = 16,
            [nameof(GgmlOptParams.Outputs)] = 24,
            [nameof(GgmlOptParams.LossType)] = 32,
            [nameof(GgmlOptParams.BuildType)] = 36,
            [nameof(GgmlOptParams.OptPeriod)] = 40,
            [nameof(GgmlOptParams.GetOptPars)] = 48,
            [nameof(GgmlOptParams.GetOptParsUserData)] = 56,
            [nameof(GgmlOptParams.Optimizer)] = 64,
        });
    }

    [Fact]
    public void Tensor_head_matches_ggml_h()
    {
        // type 0, (4 padding) buffer 8, ne[4] 16..40, nb[4] 48..72, op 80, op_params[16] 84..144, flags 148,
        // src[10] 152..224: the part of struct ggml_tensor MaaS reads.
        Assert.Equal(0, (int)Marshal.OffsetOf<GgmlTensorHead>(nameof(GgmlTensorHead.Type)));
        Assert.Equal(8, (int)Marshal.OffsetOf<GgmlTensorHead>(nameof(GgmlTensorHead.Buffer)));
        Assert.Equal(16, (int)Marshal.OffsetOf<GgmlTensorHead>(nameof(GgmlTensorHead.Ne)));
        Assert.Equal(48, (int)Marshal.OffsetOf<GgmlTensorHead>(nameof(GgmlTensorHead.Nb)));
        Assert.Equal(80, (int)Marshal.OffsetOf<GgmlTensorHead>(nameof(GgmlTensorHead.Op)));
        Assert.Equal(84, (int)Marshal.OffsetOf<GgmlTensorHead>(nameof(GgmlTensorHead.OpParams)));
        Assert.Equal(148, (int)Marshal.OffsetOf<GgmlTensorHead>(nameof(GgmlTensorHead.Flags)));
        Assert.Equal(152, (int)Marshal.OffsetOf<GgmlTensorHead>(nameof(GgmlTensorHead.Src)));
        Assert.Equal(232, Marshal.SizeOf<GgmlTensorHead>());
    }

    [Fact]
    public void Defaults_read_through_the_structs_are_the_headers_values()
    {
        // ggml_opt_get_default_optimizer_params: alpha 1e-3, beta1 0.9, beta2 0.999, eps 1e-8, no decay; SGD 1e-3.
        var optimizer = GgmlApi.ggml_opt_get_default_optimizer_params(IntPtr.Zero);
        Assert.Equal(0.001f, optimizer.AdamwAlpha);
        Assert.Equal(0.9f, optimizer.AdamwBeta1);
        Assert.Equal(0.999f, optimizer.AdamwBeta2);
        Assert.Equal(1e-8f, optimizer.AdamwEps);
        Assert.Equal(0f, optimizer.AdamwWd);
        Assert.Equal(0.001f, optimizer.SgdAlpha);
        Assert.Equal(0f, optimizer.SgdWd);

        // ggml_opt_default_params: build type OPT (30), one step per batch, AdamW, its own default-settings callback.
        var parameters = GgmlApi.ggml_opt_default_params(new SafeGgmlSchedHandle(), GgmlOptLossType.CrossEntropy);
        Assert.Equal(GgmlOptLossType.CrossEntropy, parameters.LossType);
        Assert.Equal(30, parameters.BuildType);
        Assert.Equal(1, parameters.OptPeriod);
        Assert.Equal(GgmlOptimizerType.AdamW, parameters.Optimizer);
        Assert.Equal(GgmlLibrary.Export(GgmlLibrary.GgmlBase, "ggml_opt_get_default_optimizer_params"), parameters.GetOptPars);
    }
}
