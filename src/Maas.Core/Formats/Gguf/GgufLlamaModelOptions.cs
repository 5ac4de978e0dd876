namespace Maas.Core.Formats.Gguf;

/// <summary>Shape and contents of a random-weight Llama model written by <see cref="GgufLlamaModelFactory"/>.</summary>
public sealed record GgufLlamaModelOptions
{
    /// <summary>The ChatML template (Jinja), which llama.cpp's built-in template detection recognises.</summary>
    public const string ChatMlTemplate =
        "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}" +
        "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

    /// <summary>general.name.</summary>
    public string Name { get; init; } = "maas-random-llama";

    /// <summary>n_embd: width of the residual stream.</summary>
    public int EmbeddingLength { get; init; } = 128;

    /// <summary>Number of transformer layers.</summary>
    public int BlockCount { get; init; } = 2;

    /// <summary>Attention heads (EmbeddingLength must divide by it).</summary>
    public int HeadCount { get; init; } = 4;

    /// <summary>Key/value heads (grouped-query attention when fewer than <see cref="HeadCount"/>).</summary>
    public int KeyValueHeadCount { get; init; } = 4;

    /// <summary>Hidden width of the SwiGLU feed-forward block.</summary>
    public int FeedForwardLength { get; init; } = 384;

    /// <summary>{arch}.context_length: the longest context the model claims.</summary>
    public int ContextLength { get; init; } = 2048;

    /// <summary>Tokens in the synthetic byte-level BPE vocabulary (at least 259).</summary>
    public int VocabularySize { get; init; } = 2048;

    /// <summary>Type of every matrix (F32, F16, BF16 or Q8_0); norms are always F32.</summary>
    public GgmlType WeightType { get; init; } = GgmlType.F32;

    /// <summary>Seed of the weights: the same options write the same bytes.</summary>
    public ulong Seed { get; init; } = 42;

    /// <summary>Standard deviation of the random matrix entries.</summary>
    public float WeightStd { get; init; } = 0.02f;

    /// <summary>Standard deviation of the token embedding: larger than the matrices so each token steers the output and text varies.</summary>
    public float EmbeddingStd { get; init; } = 1f;

    /// <summary>RoPE base frequency.</summary>
    public float RopeFreqBase { get; init; } = 10000f;

    /// <summary>RMS norm epsilon.</summary>
    public float RmsNormEpsilon { get; init; } = 1e-5f;

    /// <summary>tokenizer.chat_template; null writes none.</summary>
    public string? ChatTemplate { get; init; } = ChatMlTemplate;

    /// <summary>Share the token embedding as the output matrix (no output.weight tensor).</summary>
    public bool TieEmbeddings { get; init; }

    /// <summary>The first-run demo model: a few MB, loads and streams at once.</summary>
    public static GgufLlamaModelOptions Demo { get; } = new() { Name = "maas-demo-tiny-llama (random weights, plumbing demo)" };

    /// <summary>The benchmark model: dim 1024, 16 layers, 32000 tokens, about 270M parameters (F16; quantise to Q8_0 with llama.cpp).</summary>
    public static GgufLlamaModelOptions Benchmark { get; } = new()
    {
        Name = "maas-bench-llama-270m (random weights)",
        EmbeddingLength = 1024,
        BlockCount = 16,
        HeadCount = 16,
        KeyValueHeadCount = 16,
        FeedForwardLength = 2816,
        ContextLength = 4096,
        VocabularySize = 32000,
        WeightType = GgmlType.F16,
    };

    /// <summary>Number of parameters the model will have.</summary>
    public long ParameterCount
    {
        get
        {
            long d = EmbeddingLength, kv = (long)KeyValueHeadCount * (EmbeddingLength / HeadCount), f = FeedForwardLength, v = VocabularySize;
            var layer = d + (d * d) + (2 * d * kv) + (d * d) + d + (3 * d * f);
            return (v * d * (TieEmbeddings ? 1 : 2)) + d + (BlockCount * layer);
        }
    }
}
