using Maas.Core.Formats;
using Maas.Core.Formats.Gguf;

namespace Maas.Core.Registry;

/// <summary>Reads a GGUF file's signature (architecture, sizes, quantisation, chat template) through the GGUF reader.</summary>
public static class GgufSignatures
{
    // general.* strings (license, author, url, ...) are worth showing; long ones (a README) would bloat every listing.
    private const int MaxMetadataValue = 1024;

    /// <summary>Reads and validates the file; throws <see cref="InvalidModelFileException"/> when it is not usable.</summary>
    public static ModelSignature Read(string path)
    {
        var file = GgufReader.Read(path);
        if (string.IsNullOrEmpty(file.Architecture))
        {
            throw new InvalidModelFileException("the GGUF file has no general.architecture, so no engine knows how to run it");
        }

        CheckTokenizerArrays(file);

        var general = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var key in file.MetadataKeys)
        {
            if (key.StartsWith("general.", StringComparison.Ordinal) && file.GetString(key) is { Length: <= MaxMetadataValue } value)
            {
                general[key] = value;
            }
        }

        return new ModelSignature
        {
            Architecture = file.Architecture,
            ModelName = file.Name,
            ParameterCount = file.ParameterCount,
            ContextLength = file.ContextLength,
            EmbeddingLength = file.EmbeddingLength,
            BlockCount = file.BlockCount,
            VocabularySize = file.VocabularySize,
            Quantization = file.Quantization,
            ChatTemplate = file.ChatTemplate,
            TensorCount = file.Tensors.Count,
            FileMetadata = general.Count == 0 ? null : general,
        };
    }

    // llama.cpp reads the tokenizer's side arrays as raw arrays of the token count without checking their type or
    // length (and asserts on a wrong type, which ends the process): both are checked here before it sees the file.
    private static void CheckTokenizerArrays(GgufFile file)
    {
        if (file.Get("tokenizer.ggml.tokens") is not { } tokens)
        {
            return;
        }

        if (!tokens.IsArray || tokens.ElementType != GgufValueType.String)
        {
            throw new InvalidModelFileException("tokenizer.ggml.tokens must be an array of strings");
        }

        foreach (var (key, type) in new[] { ("tokenizer.ggml.scores", GgufValueType.Float32), ("tokenizer.ggml.token_type", GgufValueType.Int32) })
        {
            if (file.Get(key) is { } side && (!side.IsArray || side.ElementType != type || side.ArrayLength != tokens.ArrayLength))
            {
                throw new InvalidModelFileException(
                    $"{key} must be an array of {tokens.ArrayLength} {type} values, one per token, but is {(side.IsArray ? $"an array of {side.ArrayLength} {side.ElementType}" : side.Type.ToString())}");
            }
        }

        if (file.Get("tokenizer.ggml.merges") is { } merges && (!merges.IsArray || merges.ElementType != GgufValueType.String))
        {
            throw new InvalidModelFileException("tokenizer.ggml.merges must be an array of strings");
        }
    }
}
