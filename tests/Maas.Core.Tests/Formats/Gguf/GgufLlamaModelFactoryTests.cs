using System.Security.Cryptography;
using Maas.Core.Formats.Gguf;

namespace Maas.Core.Tests.Formats.Gguf;

public sealed class GgufLlamaModelFactoryTests : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("maas-gguf-llama-").FullName;

    public void Dispose() => Directory.Delete(folder, recursive: true);

    [Fact]
    public void Demo_model_is_a_small_llama_with_the_declared_shape()
    {
        var path = Path.Combine(folder, "demo.gguf");
        var options = GgufLlamaModelOptions.Demo;

        var parameters = GgufLlamaModelFactory.Write(path, options);
        var file = GgufReader.Read(path);

        Assert.Equal("llama", file.Architecture);
        Assert.Equal(options.ParameterCount, parameters);
        Assert.Equal(parameters, file.ParameterCount);
        Assert.Equal(options.VocabularySize, file.VocabularySize);
        Assert.Equal(options.EmbeddingLength, file.EmbeddingLength);
        Assert.Equal(options.BlockCount, file.BlockCount);
        Assert.Equal(options.ContextLength, file.ContextLength);
        Assert.Equal("F32", file.Quantization);
        Assert.Equal("gpt2", file.TokenizerModel);
        Assert.Contains("<|im_start|>", file.ChatTemplate);
        Assert.InRange(new FileInfo(path).Length, 1_000_000, 8_000_000);
    }

    [Fact]
    public void Same_seed_writes_the_same_bytes_and_another_seed_does_not()
    {
        var options = GgufLlamaModelOptions.Demo with { EmbeddingLength = 64, VocabularySize = 300, WeightType = GgmlType.Q8_0, FeedForwardLength = 96 };
        var a = Path.Combine(folder, "a.gguf");
        var b = Path.Combine(folder, "b.gguf");
        var c = Path.Combine(folder, "c.gguf");

        GgufLlamaModelFactory.Write(a, options);
        GgufLlamaModelFactory.Write(b, options);
        GgufLlamaModelFactory.Write(c, options with { Seed = 7 });

        Assert.Equal(Hash(a), Hash(b));
        Assert.NotEqual(Hash(a), Hash(c));
        Assert.Equal("Q8_0", GgufReader.Read(a).Quantization);
    }

    [Fact]
    public void Benchmark_shape_has_about_270M_parameters()
    {
        Assert.InRange(GgufLlamaModelOptions.Benchmark.ParameterCount, 260_000_000, 280_000_000);
    }

    [Fact]
    public void Synthetic_vocabulary_has_unique_tokens_and_merges_that_make_tokens()
    {
        var vocab = SyntheticBpeVocabulary.Create(5000);

        Assert.Equal(5000, vocab.Tokens.Length);
        Assert.Equal(vocab.Tokens.Length, vocab.Tokens.Distinct().Count());
        var known = vocab.Tokens.ToHashSet();
        Assert.All(vocab.Merges, m => Assert.Contains(m.Replace(" ", string.Empty, StringComparison.Ordinal), known));
        Assert.Throws<ArgumentOutOfRangeException>(() => SyntheticBpeVocabulary.Create(100));
    }

    private static string Hash(string path) => Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(path)));
}
