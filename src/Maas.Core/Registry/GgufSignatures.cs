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
}
