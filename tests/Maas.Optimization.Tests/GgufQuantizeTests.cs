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

    [Fact]
    public void An_importance_matrix_gathered_from_the_calibration_passage_has_one_entry_per_layer_weight_sized_by_its_columns()
    {
        var source = Path.Combine(_folder, "imatrix-source.gguf");
        GgufLlamaModelFactory.Write(source, Small);

        var imatrix = LlamaImportanceMatrix.Compute(source, CalibrationText.Passage, threads: 2, chunkTokens: 128);

        // Seven weights per layer (q, k, v, output, gate, up, down), two layers; columns are each weight's inputs.
        Assert.Equal(14, imatrix.Entries.Count);
        Assert.Equal(Small.EmbeddingLength, imatrix.Entries["blk.0.attn_q.weight"].Length);
        Assert.Equal(Small.FeedForwardLength, imatrix.Entries["blk.1.ffn_down.weight"].Length);
        Assert.True(imatrix.Tokens > 200 && imatrix.Chunks >= 2, $"{imatrix.Tokens} tokens in {imatrix.Chunks} chunks");
        Assert.All(imatrix.Entries.Values.SelectMany(v => v), v => Assert.True(float.IsFinite(v) && v >= 0));
        Assert.True(imatrix.Entries["blk.0.ffn_down.weight"].Distinct().Count() > 100, "the columns must differ in importance");
    }

    [Theory]
    [InlineData("q2_k")]
    [InlineData("q4_k_m")]
    public void Quantizing_with_an_importance_matrix_from_another_text_is_no_worse_on_the_held_out_passage(string type)
    {
        // Weights small enough that the random model is not chaotic: at 0.3 a q4_k_m rounding moves the logits by half their size.
        var source = Path.Combine(_folder, "imatrix-source.gguf");
        GgufLlamaModelFactory.Write(source, Small with { WeightStd = 0.05f });
        var imatrix = LlamaImportanceMatrix.Compute(source, CalibrationText.Passage, threads: 2, chunkTokens: 128);
        var plain = Path.Combine(_folder, "plain.gguf");
        var weighted = Path.Combine(_folder, "weighted.gguf");

        LlamaQuantizer.Quantize(source, plain, new LlamaQuantizeOptions { FileType = GgufQuantTypes.ByName[type], Threads = 2 });
        LlamaQuantizer.Quantize(source, weighted, new LlamaQuantizeOptions { FileType = GgufQuantTypes.ByName[type], Threads = 2, ImportanceMatrix = imatrix });

        Assert.NotEqual(File.ReadAllBytes(plain), File.ReadAllBytes(weighted)); // the matrix changed the rounding
        Assert.Equal(new FileInfo(plain).Length, new FileInfo(weighted).Length);

        // What the matrix minimises: the error of the layer outputs, seen here in the logits on the held-out passage.
        var exact = Logits(source);
        var errorWithout = MeanAbsDiff(exact, Logits(plain));
        var errorWith = MeanAbsDiff(exact, Logits(weighted));
        Assert.True(errorWith <= errorWithout * 1.01, $"{type}: logit error with {errorWith}, without {errorWithout}");

        var reference = LlmMeasurement.Measure(source, HeldOutText.Passage, 2, CancellationToken.None).Perplexity;
        var without = LlmMeasurement.Measure(plain, HeldOutText.Passage, 2, CancellationToken.None).Perplexity;
        var with = LlmMeasurement.Measure(weighted, HeldOutText.Passage, 2, CancellationToken.None).Perplexity;
        Assert.True(double.IsFinite(with) && with > 1);
        var changeWith = Math.Abs(with - reference) / reference;
        var changeWithout = Math.Abs(without - reference) / reference;
        Assert.True(changeWith <= changeWithout + 0.02, $"{type}: perplexity source {reference}, without {without} ({changeWithout:P2}), with {with} ({changeWith:P2})");
    }

    private static double MeanAbsDiff(float[] a, float[] b) => a.Zip(b, (x, y) => (double)Math.Abs(x - y)).Average();

    // The logits of every position of the first 256 tokens of the held-out passage.
    private static float[] Logits(string path)
    {
        const int n = 256;
        using var model = LlamaModel.Load(path);
        var tokens = model.Tokenizer.Tokenize(HeldOutText.Passage, addSpecial: true)[..n];
        using var context = model.CreateContext(new LlamaContextOptions { ContextSize = n, BatchSize = n, MicroBatchSize = n, Threads = 2, BatchThreads = 2 });
        using var batch = new LlamaBatch(n);
        for (var i = 0; i < n; i++)
        {
            batch.Add(tokens[i], i, 0, output: true);
        }

        context.Decode(batch);
        return Enumerable.Range(0, n).SelectMany(i => context.GetLogits(i).ToArray()).ToArray();
    }
}
