using Maas.Core.Formats;
using Maas.Core.Formats.Gguf;

namespace Maas.Core.Registry;

/// <summary>Reads a GGUF file's signature (architecture, sizes, quantisation, chat template) through the GGUF reader.</summary>
public static class GgufSignatures
{
    // general.* strings (license, author, url, ...) are worth showing; long ones (a README) would bloat every listing.
    private const int MaxMetadataValue = 1024;

    /// <summary>
    /// Reads and validates the file; throws <see cref="InvalidModelFileException"/> when it is not usable, and
    /// <see cref="OperationCanceledException"/> once <paramref name="cancellationToken"/> fires.
    /// </summary>
    public static ModelSignature Read(string path, CancellationToken cancellationToken = default)
    {
        var file = GgufReader.Read(path, cancellationToken);
        cancellationToken.ThrowIfCancellationRequested();
        if (string.IsNullOrEmpty(file.Architecture))
        {
            throw new InvalidModelFileException("the GGUF file has no general.architecture, so no engine knows how to run it");
        }

        CheckTokenizerArrays(file);
        CheckLayerAndExpertCounts(file);

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
                    $"{key} must be an array of {tokens.ArrayLength} {type} values, one per token, but is " +
                    $"{(side.IsArray ? $"an array of {side.ArrayLength} {side.ElementType}" : side.Type.ToString())}");
            }
        }

        if (file.Get("tokenizer.ggml.merges") is { } merges && (!merges.IsArray || merges.ElementType != GgufValueType.String))
        {
            throw new InvalidModelFileException("tokenizer.ggml.merges must be an array of strings");
        }

        // llama.cpp maps every token's text to its id and asserts that no two tokens share a text (an empty one is
        // named "[EMPTY_<id>]" first).
        var texts = tokens.AsArray<string>();
        var seen = new Dictionary<string, int>(texts.Length, StringComparer.Ordinal);
        for (var id = 0; id < texts.Length; id++)
        {
            var text = texts[id].Length == 0 ? $"[EMPTY_{id}]" : texts[id];
            if (!seen.TryAdd(text, id))
            {
                throw new InvalidModelFileException(
                    $"tokenizer.ggml.tokens spells tokens {seen[text]} and {id} alike ('{RegistryNames.Shorten(text)}'); every token's text must be unique");
            }
        }
    }

    // llama.cpp asserts (ending the process) on these counts before it reads a tensor: 1 to 512 layers, at most 1024
    // experts, experts used per token and expert groups consistent with the expert count.
    private static void CheckLayerAndExpertCounts(GgufFile file)
    {
        var arch = file.Architecture;
        long? Count(string key) => file.GetInteger($"{arch}.{key}");
        if (Count("block_count") is { } layers && layers is < 1 or > 512)
        {
            throw new InvalidModelFileException($"{arch}.block_count is {layers}; a model has 1 to 512 layers");
        }

        if (Count("nextn_predict_layers") is { } nextn && nextn > (Count("block_count") ?? 0))
        {
            throw new InvalidModelFileException($"{arch}.nextn_predict_layers ({nextn}) is more than the {Count("block_count")} layers");
        }

        var experts = Count("expert_count") ?? 0;
        var used = file.Get($"{arch}.expert_used_count") switch
        {
            { IsArray: true } array when array.Value is Array values =>
                values.Cast<object>().Select(v => Convert.ToDouble(v, System.Globalization.CultureInfo.InvariantCulture)).DefaultIfEmpty(0).Max(),
            { } scalar when scalar.Value is not string => Convert.ToDouble(scalar.Value, System.Globalization.CultureInfo.InvariantCulture),
            _ => 0,
        };
        if (experts <= 1 && arch!.StartsWith("hunyuan", StringComparison.Ordinal))
        {
            (experts, used) = (0, 0); // llama.cpp reads one expert there as none
        }

        var groups = Count("expert_group_count") ?? 0;
        var groupsUsed = Count("expert_group_used_count") ?? 0;
        var consistent = experts is >= 0 and <= 1024 && used >= 0 && used <= experts && (experts > 0
            ? used > 0 && groups >= 0 && groups < experts && (groups <= 1 || (experts % groups == 0 && groupsUsed > 0 && groupsUsed < groups))
            : used == 0 && groups == 0);
        if (!consistent)
        {
            throw new InvalidModelFileException(
                $"{arch}.expert_count ({experts}), expert_used_count ({used}), expert_group_count ({groups}) and expert_group_used_count ({groupsUsed}) do not fit together: at " +
                $"most 1024 experts, each token using at least one and at most all of them, groups dividing the experts");
        }
    }
}
