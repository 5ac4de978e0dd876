using Maas.Core.Formats;
using Maas.Core.Formats.Gguf;
using Maas.Optimization.Gguf;
using Maas.Runtimes.Llama;
using Maas.Testing;

namespace Maas.Optimization.Tests;

/// <summary>llama.cpp quantisation through the binding, measured on the built-in passage against the source.</summary>
public sealed class GgufQuantizeTests : IDisposable
{
    /// <summary>A small generated Llama with rows of 256 values, so the k-quant types apply to its matrices.</summary>
    public static readonly GgufLlamaModelOptions Small = GgufLlamaModelOptions.Demo with
    {
        Name = "maas-opt-test",
        EmbeddingLength = 256,
        BlockCount = 2,
        HeadCount = 4,
        KeyValueHeadCount = 2,
        FeedForwardLength = 512,
        ContextLength = 1024,
        VocabularySize = 1000,
        WeightStd = 0.3f,
    };

    private readonly string _folder = Directory.CreateTempSubdirectory("maas-opt-gguf-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    [Fact]
    public void Q4_k_m_of_a_generated_f32_llama_is_smaller_and_its_perplexity_is_measured_against_the_source()
    {
        var source = Path.Combine(_folder, "source.gguf");
        GgufLlamaModelFactory.Write(source, Small);
        var output = Path.Combine(_folder, "q4_k_m.gguf");

        LlamaQuantizer.Quantize(source, output, new LlamaQuantizeOptions { FileType = GgufQuantTypes.ByName["q4_k_m"], Threads = 2 });

        Assert.Equal("Q4_K_M", GgufReader.Read(output).Quantization);
        Assert.True(new FileInfo(output).Length < new FileInfo(source).Length / 3, $"{new FileInfo(output).Length} vs {new FileInfo(source).Length}");
        var before = LlmMeasurement.Measure(source, HeldOutText.Passage, 2, CancellationToken.None);
        var after = LlmMeasurement.Measure(output, HeldOutText.Passage, 2, CancellationToken.None);
        Assert.True(before.EvaluatedTokens > 100, $"{before.EvaluatedTokens} tokens");
        Assert.True(double.IsFinite(after.Perplexity) && after.Perplexity > 1);
        Assert.NotEqual(before.Perplexity, after.Perplexity);
        Assert.True(after.GenerationTokensPerSecond > 0 && after.PromptTokensPerSecond > 0);
        var gate = OptimizationGate.Evaluate(ModelFormat.Gguf, new Dictionary<string, double> { ["max_perplexity_increase"] = 0.5 }, new Dictionary<string, double?>
        {
            ["perplexity"] = after.Perplexity,
            ["perplexity_increase"] = (after.Perplexity - before.Perplexity) / before.Perplexity,
        });
        Assert.True(gate.Passed, string.Join("; ", gate.Checks));
    }

    [SharedModelFact("llama-2-tiny-random.gguf")]
    public void The_shared_tiny_llama_quantizes_to_q8_0_and_measures()
    {
        var output = Path.Combine(_folder, "tiny-q8_0.gguf");

        LlamaQuantizer.Quantize(SharedModels.PathOf("llama-2-tiny-random.gguf"), output, new LlamaQuantizeOptions { FileType = GgufQuantTypes.ByName["q8_0"], Threads = 2 });

        var after = LlmMeasurement.Measure(output, HeldOutText.Passage, 2, CancellationToken.None);
        Assert.True(double.IsFinite(after.Perplexity));
        Assert.True(after.EvaluatedTokens > 100);
    }

    [Fact]
    public void The_accepted_type_names_include_the_common_ones_and_no_type_that_needs_an_importance_matrix()
    {
        foreach (var name in new[] { "q8_0", "q6_k", "q5_k_m", "q4_k_m", "q4_0" })
        {
            Assert.True(GgufQuantTypes.ByName.ContainsKey(name), name);
        }

        Assert.DoesNotContain("iq2_xxs", GgufQuantTypes.ByName.Keys);
    }
}
