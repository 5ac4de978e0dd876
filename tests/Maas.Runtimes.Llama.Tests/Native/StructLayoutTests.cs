using Maas.Runtimes.Llama.Native;
using Maas.Testing;

namespace Maas.Runtimes.Llama.Tests.Native;

/// <summary>
/// The mirrored structs must match llama.h of the pinned build byte for byte. Expected numbers are derived by hand
/// from the header for x86-64 / arm64 (LP64: pointers and size_t 8 bytes, int32/enum/float 4, C bool 1), each field
/// placed at the next multiple of its own alignment and the size rounded up to the largest alignment.
/// </summary>
public sealed class StructLayoutTests
{
    [Fact]
    public void Model_params_match_llama_h()
    {
        // devices 0, tensor_buft_overrides 8, n_gpu_layers 16, split_mode 20, load_mode 24, lazy_mode 28, main_gpu 32,
        // (4 padding) tensor_split 40, progress_callback 48, progress_callback_user_data 56, kv_overrides 64,
        // six bools 72..77, size 78 rounded up to 8 = 80.
        NativeLayout.AssertMatches<LlamaModelParams>(80, new()
        {
            [nameof(LlamaModelParams.Devices)] = 0,
            [nameof(LlamaModelParams.TensorBuftOverrides)] = 8,
            [nameof(LlamaModelParams.NGpuLayers)] = 16,
            [nameof(LlamaModelParams.SplitMode)] = 20,
            [nameof(LlamaModelParams.LoadMode)] = 24,
            [nameof(LlamaModelParams.LazyMode)] = 28,
            [nameof(LlamaModelParams.MainGpu)] = 32,
            [nameof(LlamaModelParams.TensorSplit)] = 40,
            [nameof(LlamaModelParams.ProgressCallback)] = 48,
            [nameof(LlamaModelParams.ProgressCallbackUserData)] = 56,
            [nameof(LlamaModelParams.KvOverrides)] = 64,
            [nameof(LlamaModelParams.VocabOnly)] = 72,
            [nameof(LlamaModelParams.CheckTensors)] = 73,
            [nameof(LlamaModelParams.UseExtraBufts)] = 74,
            [nameof(LlamaModelParams.NoHost)] = 75,
            [nameof(LlamaModelParams.NoAlloc)] = 76,
            [nameof(LlamaModelParams.LoadMtp)] = 77,
        });
    }

    [Fact]
    public void Context_params_match_llama_h()
    {
        // Nine 4-byte counters 0..32, five enums 36..52, seven floats + yarn_orig_ctx 56..84 (defrag_thold at 84),
        // cb_eval 88, cb_eval_user_data 96, type_k 104, type_v 108, abort_callback 112, abort_callback_data 120,
        // six bools 128..133, (2 padding) samplers 136, n_samplers 144, ctx_other 152, size 160.
        NativeLayout.AssertMatches<LlamaContextParams>(160, new()
        {
            [nameof(LlamaContextParams.NCtx)] = 0,
            [nameof(LlamaContextParams.NBatch)] = 4,
            [nameof(LlamaContextParams.NUbatch)] = 8,
            [nameof(LlamaContextParams.NSeqMax)] = 12,
            [nameof(LlamaContextParams.NRsSeq)] = 16,
            [nameof(LlamaContextParams.NOutputsMax)] = 20,
            [nameof(LlamaContextParams.NOutputsMaxPerSeq)] = 24,
            [nameof(LlamaContextParams.NThreads)] = 28,
            [nameof(LlamaContextParams.NThreadsBatch)] = 32,
            [nameof(LlamaContextParams.CtxType)] = 36,
            [nameof(LlamaContextParams.RopeScalingType)] = 40,
            [nameof(LlamaContextParams.PoolingType)] = 44,
            [nameof(LlamaContextParams.AttentionType)] = 48,
            [nameof(LlamaContextParams.FlashAttnType)] = 52,
            [nameof(LlamaContextParams.RopeFreqBase)] = 56,
            [nameof(LlamaContextParams.RopeFreqScale)] = 60,
            [nameof(LlamaContextParams.YarnExtFactor)] = 64,
            [nameof(LlamaContextParams.YarnAttnFactor)] = 68,
            [nameof(LlamaContextParams.YarnBetaFast)] = 72,
            [nameof(LlamaContextParams.YarnBetaSlow)] = 76,
            [nameof(LlamaContextParams.YarnOrigCtx)] = 80,
            [nameof(LlamaContextParams.DefragThold)] = 84,
            [nameof(LlamaContextParams.CbEval)] = 88,
            [nameof(LlamaContextParams.CbEvalUserData)] = 96,
            [nameof(LlamaContextParams.TypeK)] = 104,
            [nameof(LlamaContextParams.TypeV)] = 108,
            [nameof(LlamaContextParams.AbortCallback)] = 112,
            [nameof(LlamaContextParams.AbortCallbackData)] = 120,
            [nameof(LlamaContextParams.Embeddings)] = 128,
            [nameof(LlamaContextParams.OffloadKqv)] = 129,
            [nameof(LlamaContextParams.NoPerf)] = 130,
            [nameof(LlamaContextParams.OpOffload)] = 131,
            [nameof(LlamaContextParams.SwaFull)] = 132,
            [nameof(LlamaContextParams.KvUnified)] = 133,
            [nameof(LlamaContextParams.Samplers)] = 136,
            [nameof(LlamaContextParams.NSamplers)] = 144,
            [nameof(LlamaContextParams.CtxOther)] = 152,
        });
    }

    [Fact]
    public void Batch_matches_llama_h()
    {
        // n_tokens 0, (4 padding) then six pointers at 8, 16, 24, 32, 40, 48: size 56.
        NativeLayout.AssertMatches<LlamaNativeBatch>(56, new()
        {
            [nameof(LlamaNativeBatch.NTokens)] = 0,
            [nameof(LlamaNativeBatch.Token)] = 8,
            [nameof(LlamaNativeBatch.Embd)] = 16,
            [nameof(LlamaNativeBatch.Pos)] = 24,
            [nameof(LlamaNativeBatch.NSeqId)] = 32,
            [nameof(LlamaNativeBatch.SeqId)] = 40,
            [nameof(LlamaNativeBatch.Logits)] = 48,
        });
    }

    [Fact]
    public void Quantize_params_match_llama_h()
    {
        // nthread 0, ftype 4, output_tensor_type 8, token_embedding_type 12, six bools 16..21, (2 padding)
        // imatrix 24, kv_overrides 32, tt_overrides 40, prune_layers 48, max_buf_size 56: size 64.
        NativeLayout.AssertMatches<LlamaModelQuantizeParams>(64, new()
        {
            [nameof(LlamaModelQuantizeParams.NThread)] = 0,
            [nameof(LlamaModelQuantizeParams.Ftype)] = 4,
            [nameof(LlamaModelQuantizeParams.OutputTensorType)] = 8,
            [nameof(LlamaModelQuantizeParams.TokenEmbeddingType)] = 12,
            [nameof(LlamaModelQuantizeParams.AllowRequantize)] = 16,
            [nameof(LlamaModelQuantizeParams.QuantizeOutputTensor)] = 17,
            [nameof(LlamaModelQuantizeParams.OnlyCopy)] = 18,
            [nameof(LlamaModelQuantizeParams.Pure)] = 19,
            [nameof(LlamaModelQuantizeParams.KeepSplit)] = 20,
            [nameof(LlamaModelQuantizeParams.DryRun)] = 21,
            [nameof(LlamaModelQuantizeParams.Imatrix)] = 24,
            [nameof(LlamaModelQuantizeParams.KvOverrides)] = 32,
            [nameof(LlamaModelQuantizeParams.TtOverrides)] = 40,
            [nameof(LlamaModelQuantizeParams.PruneLayers)] = 48,
            [nameof(LlamaModelQuantizeParams.MaxBufSize)] = 56,
        });
    }

    [Fact]
    public void Small_structs_match_llama_h()
    {
        // llama_sampler_chain_params { bool no_perf; }: 1 byte.
        NativeLayout.AssertMatches<LlamaSamplerChainParams>(1, new() { [nameof(LlamaSamplerChainParams.NoPerf)] = 0 });

        // llama_chat_message { const char * role; const char * content; }: 16.
        NativeLayout.AssertMatches<LlamaNativeChatMessage>(16, new()
        {
            [nameof(LlamaNativeChatMessage.Role)] = 0,
            [nameof(LlamaNativeChatMessage.Content)] = 8,
        });

        // llama_token_data { int32 id; float logit; float p; }: 12.
        NativeLayout.AssertMatches<LlamaTokenData>(12, new()
        {
            [nameof(LlamaTokenData.Id)] = 0,
            [nameof(LlamaTokenData.Logit)] = 4,
            [nameof(LlamaTokenData.P)] = 8,
        });

        // llama_token_data_array { data* 0; size_t size 8; int64 selected 16; bool sorted 24 }: 25 rounded to 32.
        NativeLayout.AssertMatches<LlamaTokenDataArray>(32, new()
        {
            [nameof(LlamaTokenDataArray.Data)] = 0,
            [nameof(LlamaTokenDataArray.Size)] = 8,
            [nameof(LlamaTokenDataArray.Selected)] = 16,
            [nameof(LlamaTokenDataArray.Sorted)] = 24,
        });

        // llama_logit_bias { int32 token; float bias; }: 8.
        NativeLayout.AssertMatches<LlamaLogitBias>(8, new()
        {
            [nameof(LlamaLogitBias.Token)] = 0,
            [nameof(LlamaLogitBias.Bias)] = 4,
        });

        // llama_perf_context_data: four doubles 0..24, three int32 32, 36, 40: 44 rounded to 48.
        NativeLayout.AssertMatches<LlamaPerfContextData>(48, new()
        {
            [nameof(LlamaPerfContextData.TStartMs)] = 0,
            [nameof(LlamaPerfContextData.TLoadMs)] = 8,
            [nameof(LlamaPerfContextData.TPEvalMs)] = 16,
            [nameof(LlamaPerfContextData.TEvalMs)] = 24,
            [nameof(LlamaPerfContextData.NPEval)] = 32,
            [nameof(LlamaPerfContextData.NEval)] = 36,
            [nameof(LlamaPerfContextData.NReused)] = 40,
        });
    }

    [Fact]
    public void Threadpool_params_match_ggml_h()
    {
        // bool cpumask[GGML_MAX_N_THREADS = 512] 0, n_threads 512, prio 516, poll 520, strict_cpu 524, paused 525,
        // size 526 rounded up to 4 = 528.
        NativeLayout.AssertMatches<GgmlThreadpoolParams>(528, new()
        {
            [nameof(GgmlThreadpoolParams.CpuMask)] = 0,
            [nameof(GgmlThreadpoolParams.NThreads)] = 512,
            [nameof(GgmlThreadpoolParams.Priority)] = 516,
            [nameof(GgmlThreadpoolParams.Poll)] = 520,
            [nameof(GgmlThreadpoolParams.StrictCpu)] = 524,
            [nameof(GgmlThreadpoolParams.Paused)] = 525,
        });
    }

    [Fact]
    public unsafe void Threadpool_defaults_from_the_library_land_in_the_right_fields()
    {
        LlamaBackend.Initialize();
        var p = default(GgmlThreadpoolParams);
        p.CpuMask[3] = 1;
        p.Paused = 1;
        NativeApi.ggml_threadpool_params_init(&p, 3);

        // ggml.c: n_threads as given, prio 0, poll 50, strict_cpu false, paused false, cpumask zeroed.
        Assert.Equal(3, p.NThreads);
        Assert.Equal(0, p.Priority);
        Assert.Equal(50u, p.Poll);
        Assert.Equal(0, p.StrictCpu);
        Assert.Equal(0, p.Paused);
        Assert.Equal(0, p.CpuMask[3]);
    }

    [Fact]
    public void Default_params_from_the_library_look_like_llama_h_says()
    {
        // If a field were misplaced, the defaults the library returns would land in the wrong fields.
        LlamaBackend.Initialize();
        var context = NativeApi.llama_context_default_params();
        Assert.Equal(512u, context.NCtx);
        Assert.Equal(2048u, context.NBatch);
        Assert.Equal(512u, context.NUbatch);
        Assert.Equal(1u, context.NSeqMax);
        Assert.Equal(LlamaFlashAttention.Auto, context.FlashAttnType);
        Assert.Equal(1u, context.TypeK); // GGML_TYPE_F16
        Assert.Equal(1u, context.TypeV);
        Assert.Equal(LlamaPoolingType.Unspecified, context.PoolingType);

        var model = NativeApi.llama_model_default_params();
        Assert.Equal(LlamaLoadMode.Auto, model.LoadMode);
        Assert.Equal(0, model.VocabOnly);

        var quantize = NativeApi.llama_model_quantize_default_params();
        Assert.Equal(LlamaFileType.MostlyQ8_0, quantize.Ftype);
        Assert.Equal(43u, quantize.OutputTensorType); // GGML_TYPE_COUNT: "no override"
        Assert.Equal(1, quantize.QuantizeOutputTensor);
    }
}
