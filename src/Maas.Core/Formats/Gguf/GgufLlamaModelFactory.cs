namespace Maas.Core.Formats.Gguf;

/// <summary>Writes a Llama-architecture GGUF with seeded random weights and a synthetic vocabulary that llama.cpp loads and runs.</summary>
/// <remarks>It generates gibberish: it exists for demos, tests and benchmarks, where the arithmetic matters and the words do not.</remarks>
public static class GgufLlamaModelFactory
{
    /// <summary>Writes the model to <paramref name="path"/> (replacing it) and returns the parameter count.</summary>
    public static long Write(string path, GgufLlamaModelOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var temp = path + ".partial";
        try
        {
            using (var stream = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None, bufferSize: 1))
            {
                Write(stream, options);
            }

            File.Move(temp, path, overwrite: true);
        }
        catch
        {
            File.Delete(temp);
            throw;
        }

        return options.ParameterCount;
    }

    /// <summary>Writes the model to <paramref name="output"/>, which stays open.</summary>
    public static void Write(Stream output, GgufLlamaModelOptions options)
    {
        Validate(options);
        var d = options.EmbeddingLength;
        var headDim = d / options.HeadCount;
        var kvDim = options.KeyValueHeadCount * headDim;
        var vocab = SyntheticBpeVocabulary.Create(options.VocabularySize);

        using var w = new GgufWriter(output, leaveOpen: true);
        w.Add("general.architecture", "llama")
            .Add("general.name", options.Name)
            .Add("general.file_type", FileType(options.WeightType))
            .Add("general.quantization_version", 2u)
            .Add("llama.context_length", (uint)options.ContextLength)
            .Add("llama.embedding_length", (uint)d)
            .Add("llama.block_count", (uint)options.BlockCount)
            .Add("llama.feed_forward_length", (uint)options.FeedForwardLength)
            .Add("llama.attention.head_count", (uint)options.HeadCount)
            .Add("llama.attention.head_count_kv", (uint)options.KeyValueHeadCount)
            .Add("llama.attention.layer_norm_rms_epsilon", options.RmsNormEpsilon)
            .Add("llama.rope.dimension_count", (uint)headDim)
            .Add("llama.rope.freq_base", options.RopeFreqBase)
            .Add("llama.vocab_size", (uint)options.VocabularySize)
            .Add("tokenizer.ggml.model", "gpt2")
            .Add("tokenizer.ggml.pre", "gpt-2")
            .Add("tokenizer.ggml.tokens", GgufValue.From(vocab.Tokens))
            .Add("tokenizer.ggml.token_type", GgufValue.From(vocab.TokenTypes))
            .Add("tokenizer.ggml.merges", GgufValue.From(vocab.Merges))
            .Add("tokenizer.ggml.bos_token_id", (uint)SyntheticBpeVocabulary.EndOfTextId)
            .Add("tokenizer.ggml.eos_token_id", (uint)SyntheticBpeVocabulary.ImEndId)
            .Add("tokenizer.ggml.padding_token_id", (uint)SyntheticBpeVocabulary.EndOfTextId)
            .Add("tokenizer.ggml.add_bos_token", false);
        if (options.ChatTemplate is { } template)
        {
            w.Add("tokenizer.chat_template", template);
        }

        // (name, shape, is a norm); norms are ones, matrices random.
        var plan = new List<(string Name, long[] Shape, bool Norm)>
        {
            ("token_embd.weight", [d, options.VocabularySize], false),
            ("output_norm.weight", [d], true),
        };
        if (!options.TieEmbeddings)
        {
            plan.Add(("output.weight", [d, options.VocabularySize], false));
        }

        for (var i = 0; i < options.BlockCount; i++)
        {
            plan.Add(($"blk.{i}.attn_norm.weight", [d], true));
            plan.Add(($"blk.{i}.attn_q.weight", [d, d], false));
            plan.Add(($"blk.{i}.attn_k.weight", [d, kvDim], false));
            plan.Add(($"blk.{i}.attn_v.weight", [d, kvDim], false));
            plan.Add(($"blk.{i}.attn_output.weight", [d, d], false));
            plan.Add(($"blk.{i}.ffn_norm.weight", [d], true));
            plan.Add(($"blk.{i}.ffn_gate.weight", [d, options.FeedForwardLength], false));
            plan.Add(($"blk.{i}.ffn_up.weight", [d, options.FeedForwardLength], false));
            plan.Add(($"blk.{i}.ffn_down.weight", [options.FeedForwardLength, d], false));
        }

        foreach (var (name, shape, norm) in plan)
        {
            w.AddTensor(name, norm ? GgmlType.F32 : options.WeightType, shape);
        }

        w.WriteHeader();

        // Chunks are generated and encoded in parallel, each from its own seed, then written in order:
        // the bytes depend only on the options, not on the number of cores.
        const int chunkSize = 1 << 16;
        var lanes = Math.Max(1, Environment.ProcessorCount);
        var values = new float[lanes][];
        var encoded = new byte[lanes][];
        var lengths = new int[lanes];
        for (var lane = 0; lane < lanes; lane++)
        {
            values[lane] = new float[chunkSize];
            encoded[lane] = new byte[chunkSize * 4];
        }

        for (var t = 0; t < plan.Count; t++)
        {
            var (name, shape, norm) = plan[t];
            var type = norm ? GgmlType.F32 : options.WeightType;
            var count = shape.Aggregate(1L, (a, b) => a * b);
            var chunks = (count + chunkSize - 1) / chunkSize;
            var std = name == "token_embd.weight" ? options.EmbeddingStd : options.WeightStd;
            var amplitude = std * MathF.Sqrt(3f); // uniform(-a, a) has std a/sqrt(3)
            var tensorSeed = options.Seed ^ ((ulong)(t + 1) * 0x9E3779B97F4A7C15UL);
            for (long first = 0; first < chunks; first += lanes)
            {
                var batch = (int)Math.Min(lanes, chunks - first);
                Parallel.For(0, batch, new ParallelOptions { MaxDegreeOfParallelism = lanes }, lane =>
                {
                    var chunk = first + lane;
                    var n = (int)Math.Min(chunkSize, count - (chunk * chunkSize));
                    var span = values[lane].AsSpan(0, n);
                    if (norm)
                    {
                        span.Fill(1f);
                    }
                    else
                    {
                        var rng = new SplitMix64(tensorSeed + ((ulong)chunk * 0xD1B54A32D192ED03UL));
                        for (var i = 0; i < span.Length; i++)
                        {
                            span[i] = amplitude * ((2f * rng.NextFloat()) - 1f);
                        }
                    }

                    lengths[lane] = GgmlQuantization.Encode(type, span, encoded[lane]);
                });

                for (var lane = 0; lane < batch; lane++)
                {
                    w.WriteTensorData(encoded[lane].AsSpan(0, lengths[lane]));
                }
            }
        }

        w.Finish();
    }

    private static uint FileType(GgmlType type) => type switch
    {
        GgmlType.F32 => 0,
        GgmlType.F16 => 1,
        GgmlType.Q8_0 => 7,
        GgmlType.BF16 => 32,
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, "weights can be F32, F16, BF16 or Q8_0"),
    };

    private static void Validate(GgufLlamaModelOptions o)
    {
        static void Positive(int value, string name)
        {
            if (value <= 0)
            {
                throw new ArgumentOutOfRangeException(name, value, $"{name} must be positive");
            }
        }

        Positive(o.EmbeddingLength, nameof(o.EmbeddingLength));
        Positive(o.BlockCount, nameof(o.BlockCount));
        Positive(o.HeadCount, nameof(o.HeadCount));
        Positive(o.KeyValueHeadCount, nameof(o.KeyValueHeadCount));
        Positive(o.FeedForwardLength, nameof(o.FeedForwardLength));
        Positive(o.ContextLength, nameof(o.ContextLength));
        _ = FileType(o.WeightType);
        if (o.EmbeddingLength % o.HeadCount != 0 || o.HeadCount % o.KeyValueHeadCount != 0)
        {
            throw new ArgumentException(
                $"EmbeddingLength ({o.EmbeddingLength}) must divide by HeadCount ({o.HeadCount}), and HeadCount by KeyValueHeadCount ({o.KeyValueHeadCount})");
        }

        if ((o.EmbeddingLength / o.HeadCount) % 2 != 0)
        {
            throw new ArgumentException("the head dimension must be even for RoPE");
        }

        if (o.WeightType == GgmlType.Q8_0 && (o.EmbeddingLength % 32 != 0 || o.FeedForwardLength % 32 != 0))
        {
            throw new ArgumentException("Q8_0 weights need EmbeddingLength and FeedForwardLength to be multiples of 32");
        }
    }

    // Small, fast and fully specified, so weights are identical on every platform and .NET version.
    private struct SplitMix64(ulong seed)
    {
        private ulong state = seed;

        public float NextFloat()
        {
            var z = state += 0x9E3779B97F4A7C15UL;
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
            z ^= z >> 31;
            return (z >> 40) * (1f / (1 << 24));
        }
    }
}
