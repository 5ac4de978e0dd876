namespace Maas.Core.Formats.Gguf;

/// <summary>The header of a GGUF file: version, metadata, tensor directory and where the tensor data lives.</summary>
public sealed class GgufFile
{
    // llama_ftype values of the pinned build (general.file_type), as the short names model cards use.
    private static readonly Dictionary<long, string> FileTypeNames = new()
    {
        [0] = "F32",
        [1] = "F16",
        [2] = "Q4_0",
        [3] = "Q4_1",
        [7] = "Q8_0",
        [8] = "Q5_0",
        [9] = "Q5_1",
        [10] = "Q2_K",
        [11] = "Q3_K_S",
        [12] = "Q3_K_M",
        [13] = "Q3_K_L",
        [14] = "Q4_K_S",
        [15] = "Q4_K_M",
        [16] = "Q5_K_S",
        [17] = "Q5_K_M",
        [18] = "Q6_K",
        [19] = "IQ2_XXS",
        [20] = "IQ2_XS",
        [21] = "Q2_K_S",
        [22] = "IQ3_XS",
        [23] = "IQ3_XXS",
        [24] = "IQ1_S",
        [25] = "IQ4_NL",
        [26] = "IQ3_S",
        [27] = "IQ3_M",
        [28] = "IQ2_S",
        [29] = "IQ2_M",
        [30] = "IQ4_XS",
        [31] = "IQ1_M",
        [32] = "BF16",
        [36] = "TQ1_0",
        [37] = "TQ2_0",
        [38] = "MXFP4_MOE",
        [39] = "NVFP4",
        [40] = "Q1_0",
        [41] = "Q2_0",
    };

    internal GgufFile(
        uint version,
        IReadOnlyDictionary<string, GgufValue> metadata,
        IReadOnlyList<string> keys,
        IReadOnlyList<GgufTensorInfo> tensors,
        uint alignment,
        long dataOffset,
        long fileLength)
    {
        Version = version;
        Metadata = metadata;
        MetadataKeys = keys;
        Tensors = tensors;
        Alignment = alignment;
        DataOffset = dataOffset;
        FileLength = fileLength;
    }

    /// <summary>GGUF format version (2 or 3).</summary>
    public uint Version { get; }

    /// <summary>All metadata key/values.</summary>
    public IReadOnlyDictionary<string, GgufValue> Metadata { get; }

    /// <summary>Metadata keys in file order.</summary>
    public IReadOnlyList<string> MetadataKeys { get; }

    /// <summary>The tensor directory in file order.</summary>
    public IReadOnlyList<GgufTensorInfo> Tensors { get; }

    /// <summary>Alignment of tensor data (general.alignment, default 32).</summary>
    public uint Alignment { get; }

    /// <summary>Absolute file offset where the tensor data section starts.</summary>
    public long DataOffset { get; }

    /// <summary>Length of the file that was read.</summary>
    public long FileLength { get; }

    /// <summary>general.architecture, e.g. "llama".</summary>
    public string? Architecture => GetString("general.architecture");

    /// <summary>general.name.</summary>
    public string? Name => GetString("general.name");

    /// <summary>{arch}.context_length: the context the model was trained with.</summary>
    public long? ContextLength => GetArchInteger("context_length");

    /// <summary>{arch}.embedding_length.</summary>
    public long? EmbeddingLength => GetArchInteger("embedding_length");

    /// <summary>{arch}.block_count (number of layers).</summary>
    public long? BlockCount => GetArchInteger("block_count");

    /// <summary>{arch}.attention.head_count.</summary>
    public long? HeadCount => GetArchInteger("attention.head_count");

    /// <summary>Sum of the element counts of all tensors.</summary>
    public long ParameterCount => Tensors.Sum(t => t.ElementCount);

    /// <summary>general.file_type (a llama_ftype value), when present.</summary>
    public long? FileType => GetInteger("general.file_type");

    /// <summary>tokenizer.chat_template, when present.</summary>
    public string? ChatTemplate => GetString("tokenizer.chat_template");

    /// <summary>tokenizer.ggml.model, e.g. "llama" (SentencePiece) or "gpt2" (byte-level BPE).</summary>
    public string? TokenizerModel => GetString("tokenizer.ggml.model");

    /// <summary>Number of tokens in the vocabulary (tokenizer.ggml.tokens, else {arch}.vocab_size).</summary>
    public long? VocabularySize =>
        Metadata.TryGetValue("tokenizer.ggml.tokens", out var tokens) && tokens.IsArray ? tokens.ArrayLength : GetArchInteger("vocab_size");

    /// <summary>The quantisation as a short name ("Q8_0", "F16", "Q4_K_M"): from general.file_type, else the type holding most weight bytes.</summary>
    public string? Quantization
    {
        get
        {
            if (FileType is { } ft && FileTypeNames.TryGetValue(ft, out var name))
            {
                return name;
            }

            // Only matrices count: 1-D norms stay F32 in every quantised file.
            var dominant = Tensors
                .Where(t => t.Dimensions.Count >= 2)
                .GroupBy(t => t.Type)
                .Select(g => (Type: g.Key, Bytes: g.Aggregate(0UL, (sum, t) => sum + (GgmlTypeTraits.ByteSize(t.Type, t.Dimensions) ?? 0))))
                .OrderByDescending(g => g.Bytes)
                .FirstOrDefault();
            return dominant.Bytes > 0 ? GgmlTypeTraits.Name(dominant.Type) : null;
        }
    }

    /// <summary>The value of <paramref name="key"/>, or null.</summary>
    public GgufValue? Get(string key) => Metadata.TryGetValue(key, out var v) ? v : null;

    /// <summary>A string value, or null when absent or not a string.</summary>
    public string? GetString(string key) => Get(key)?.Value as string;

    /// <summary>An integer value of any width, or null when absent or not an integer.</summary>
    public long? GetInteger(string key)
    {
        var v = Get(key);
        if (v is null || v.IsArray)
        {
            return null;
        }

        return v.Value switch
        {
            byte or sbyte or ushort or short or uint or int or long => v.AsInt64(),
            ulong u when u <= long.MaxValue => (long)u,
            _ => null,
        };
    }

    private long? GetArchInteger(string suffix) => Architecture is { } arch ? GetInteger($"{arch}.{suffix}") : null;
}
