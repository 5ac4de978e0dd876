using System.Text.Json.Nodes;
using Maas.Core.Formats.Gguf;
using Maas.Server.Tests.Support;

namespace Maas.Server.Tests.Optimization;

/// <summary>Generated Llamas uploaded as GGUF versions, the sources of the quantisation tests.</summary>
internal static class GeneratedLlamas
{
    /// <summary>64 wide, one layer, a vocabulary of 600: quick to quantise and to measure.</summary>
    public static GgufLlamaModelOptions Tiny { get; } = GgufLlamaModelOptions.Demo with
    {
        EmbeddingLength = 64,
        BlockCount = 1,
        HeadCount = 2,
        KeyValueHeadCount = 1,
        FeedForwardLength = 128,
        VocabularySize = 600,
        ContextLength = 1024,
    };

    /// <summary>Rows of 256 values, which the k-quant types take, and weights small enough not to be chaotic.</summary>
    public static GgufLlamaModelOptions KQuantRows { get; } = GgufLlamaModelOptions.Demo with
    {
        EmbeddingLength = 256,
        BlockCount = 2,
        HeadCount = 4,
        KeyValueHeadCount = 2,
        FeedForwardLength = 512,
        VocabularySize = 1000,
        ContextLength = 1024,
        WeightStd = 0.05f,
    };

    /// <summary>Uploads the Llama, written in memory, as a new version of <paramref name="model"/>; returns the upload's answer.</summary>
    public static Task<JsonNode> UploadAsync(HttpClient client, string model, GgufLlamaModelOptions options)
    {
        using var file = new MemoryStream();
        GgufLlamaModelFactory.Write(file, options);
        return client.UploadAsync(model, file.ToArray(), "model.gguf");
    }
}
