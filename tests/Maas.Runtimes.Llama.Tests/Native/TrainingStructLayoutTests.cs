using Maas.Runtimes.Llama.Native;
using Maas.Testing;

namespace Maas.Runtimes.Llama.Tests.Native;

/// <summary>
/// The training structs must match llama.h and ggml-opt.h of the pinned build byte for byte (LP64: pointers 8 bytes,
/// uint32/enum/float 4, each field at the next multiple of its alignment, the size rounded up to the largest alignment).
/// </summary>
public sealed class TrainingStructLayoutTests
{
    [Fact]
    public void Opt_params_match_llama_h()
    {
        // n_ctx_train 0, (4 padding) param_filter 8, param_filter_ud 16, get_opt_pars 24, get_opt_pars_ud 32,
        // optimizer_type 40, size 44 rounded up to 8 = 48.
        NativeLayout.AssertMatches<LlamaOptParams>(48, new()
        {
            [nameof(LlamaOptParams.NCtxTrain)] = 0,
            [nameof(LlamaOptParams.ParamFilter)] = 8,
            [nameof(LlamaOptParams.ParamFilterUserData)] = 16,
            [nameof(LlamaOptParams.GetOptPars)] = 24,
            [nameof(LlamaOptParams.GetOptParsUserData)] = 32,
            [nameof(LlamaOptParams.OptimizerType)] = 40,
        });
    }

    [Fact]
    public void Optimizer_params_match_ggml_opt_h()
    {
        // adamw { alpha, beta1, beta2, eps, wd } 0..16, sgd { alpha, wd } 20..24: seven floats, 28 bytes.
        NativeLayout.AssertMatches<GgmlOptOptimizerParams>(28, new()
        {
            [nameof(GgmlOptOptimizerParams.AdamWAlpha)] = 0,
            [nameof(GgmlOptOptimizerParams.AdamWBeta1)] = 4,
            [nameof(GgmlOptOptimizerParams.AdamWBeta2)] = 8,
            [nameof(GgmlOptOptimizerParams.AdamWEps)] = 12,
            [nameof(GgmlOptOptimizerParams.AdamWWeightDecay)] = 16,
            [nameof(GgmlOptOptimizerParams.SgdAlpha)] = 20,
            [nameof(GgmlOptOptimizerParams.SgdWeightDecay)] = 24,
        });
    }

    [Fact]
    public void Default_optimizer_params_come_back_by_value()
    {
        // ggml's defaults (ggml-opt.cpp): a mis-sized struct return would scramble these.
        var p = NativeApi.ggml_opt_get_default_optimizer_params(IntPtr.Zero);
        Assert.Equal(0.001f, p.AdamWAlpha);
        Assert.Equal(0.9f, p.AdamWBeta1);
        Assert.Equal(0.999f, p.AdamWBeta2);
        Assert.Equal(1e-8f, p.AdamWEps);
        Assert.Equal(0f, p.AdamWWeightDecay);
        Assert.Equal(1e-3f, p.SgdAlpha);
        Assert.Equal(0f, p.SgdWeightDecay);
    }
}
