namespace Maas.Runtimes.Llama;

/// <summary>How a model's weights are stored (llama.h <c>enum llama_ftype</c>); the target of quantisation.</summary>
public enum LlamaFileType
{
    AllF32 = 0,
    MostlyF16 = 1,
    MostlyQ4_0 = 2,
    MostlyQ4_1 = 3,
    MostlyQ8_0 = 7,
    MostlyQ5_0 = 8,
    MostlyQ5_1 = 9,
    MostlyQ2_K = 10,
    MostlyQ3_K_S = 11,
    MostlyQ3_K_M = 12,
    MostlyQ3_K_L = 13,
    MostlyQ4_K_S = 14,
    MostlyQ4_K_M = 15,
    MostlyQ5_K_S = 16,
    MostlyQ5_K_M = 17,
    MostlyQ6_K = 18,
    MostlyIQ2_XXS = 19,
    MostlyIQ2_XS = 20,
    MostlyQ2_K_S = 21,
    MostlyIQ3_XS = 22,
    MostlyIQ3_XXS = 23,
    MostlyIQ1_S = 24,
    MostlyIQ4_NL = 25,
    MostlyIQ3_S = 26,
    MostlyIQ3_M = 27,
    MostlyIQ2_S = 28,
    MostlyIQ2_M = 29,
    MostlyIQ4_XS = 30,
    MostlyIQ1_M = 31,
    MostlyBF16 = 32,
    MostlyTQ1_0 = 36,
    MostlyTQ2_0 = 37,
    MostlyMXFP4_MoE = 38,
    MostlyNVFP4 = 39,
    MostlyQ1_0 = 40,
    MostlyQ2_0 = 41,
    Guessed = 1024,
}

/// <summary>How per-token embeddings are pooled into one vector per sequence (<c>enum llama_pooling_type</c>).</summary>
public enum LlamaPoolingType
{
    Unspecified = -1,
    None = 0,
    Mean = 1,
    Cls = 2,
    Last = 3,
    Rank = 4,
}

/// <summary>Causal or bidirectional attention for embeddings (<c>enum llama_attention_type</c>).</summary>
public enum LlamaAttentionType
{
    Unspecified = -1,
    Causal = 0,
    NonCausal = 1,
}

/// <summary>When to use flash attention (<c>enum llama_flash_attn_type</c>).</summary>
public enum LlamaFlashAttention
{
    Auto = -1,
    Disabled = 0,
    Enabled = 1,
}

/// <summary>How a model is split across several GPUs (<c>enum llama_split_mode</c>).</summary>
public enum LlamaSplitMode
{
    None = 0,
    Layer = 1,
    Row = 2,
    Tensor = 3,
}

/// <summary>RoPE context scaling (<c>enum llama_rope_scaling_type</c>).</summary>
public enum LlamaRopeScalingType
{
    Unspecified = -1,
    None = 0,
    Linear = 1,
    Yarn = 2,
    LongRope = 3,
}

/// <summary>The tokenizer family of a vocabulary (<c>enum llama_vocab_type</c>).</summary>
public enum LlamaVocabularyType
{
    None = 0,
    SentencePiece = 1,
    BytePairEncoding = 2,
    WordPiece = 3,
    Unigram = 4,
    Rwkv = 5,
    Plamo2 = 6,
    Test = 7,
}

/// <summary>Attributes of a vocabulary token (<c>enum llama_token_attr</c>).</summary>
[Flags]
public enum LlamaTokenAttributes
{
    Undefined = 0,
    Unknown = 1 << 0,
    Unused = 1 << 1,
    Normal = 1 << 2,
    Control = 1 << 3,
    UserDefined = 1 << 4,
    Byte = 1 << 5,
    Normalized = 1 << 6,
    LeftStrip = 1 << 7,
    RightStrip = 1 << 8,
    SingleWord = 1 << 9,
}

/// <summary>Kind of a ggml compute device (<c>enum ggml_backend_dev_type</c>).</summary>
public enum LlamaDeviceType
{
    Cpu = 0,
    Gpu = 1,
    IntegratedGpu = 2,
    Accelerator = 3,
    Meta = 4,
}
