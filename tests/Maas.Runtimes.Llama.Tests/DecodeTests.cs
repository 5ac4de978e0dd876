using Maas.Core.Formats.Gguf;
using Maas.Testing;

namespace Maas.Runtimes.Llama.Tests;

[Collection(LlamaCollection.Name)]
public sealed class DecodeTests(LlamaTestModels models)
{
    [SharedModelFact(LlamaTestModels.TinyLlama)]
    public void Two_sequences_in_one_batch_generate_what_each_generates_alone()
    {
        var model = models.Tiny;
        var promptA = model.Tokenizer.Tokenize("The capital of France is");
        var promptB = model.Tokenizer.Tokenize("Once upon a time, in a land far away, there lived");
        const int steps = 8;

        List<int> Alone(int[] prompt)
        {
            using var context = model.CreateContext(LlamaTestModels.SmallContext());
            using var sampler = Generation.Greedy();
            return Generation.Generate(context, sampler, prompt, steps);
        }

        var aloneA = Alone(promptA);
        var aloneB = Alone(promptB);

        using var shared = model.CreateContext(LlamaTestModels.SmallContext(sequences: 2));
        using var samplerA = Generation.Greedy();
        using var samplerB = Generation.Greedy();
        using var batch = new LlamaBatch(promptA.Length + promptB.Length, maxSequencesPerToken: 1);
        var lastA = batch.AddRange(promptA, 0, sequence: 0);
        var lastB = batch.AddRange(promptB, 0, sequence: 1);
        Assert.Equal(2, batch.OutputCount);
        shared.Decode(batch);

        var togetherA = new List<int>();
        var togetherB = new List<int>();
        for (var step = 0; step < steps; step++)
        {
            var a = samplerA.Sample(shared, lastA);
            var b = samplerB.Sample(shared, lastB);
            togetherA.Add(a);
            togetherB.Add(b);

            batch.Clear();
            lastA = batch.Add(a, promptA.Length + step, 0, output: true);
            lastB = batch.Add(b, promptB.Length + step, 1, output: true);
            shared.Decode(batch);
        }

        Assert.Equal(aloneA, togetherA);
        Assert.Equal(aloneB, togetherB);
        Assert.NotEqual(togetherA, togetherB);
    }

    [SharedModelFact(LlamaTestModels.TinyLlama)]
    public void Every_output_row_has_its_own_logits()
    {
        var model = models.Tiny;
        using var context = model.CreateContext(LlamaTestModels.SmallContext());
        var tokens = model.Tokenizer.Tokenize("one two three four");
        using var batch = new LlamaBatch(tokens.Length);
        for (var i = 0; i < tokens.Length; i++)
        {
            batch.Add(tokens[i], i, 0, output: true);
        }

        context.Decode(batch);

        var rows = Enumerable.Range(0, tokens.Length).Select(i => context.GetLogits(i).ToArray()).ToList();
        Assert.All(rows, r => Assert.Equal(model.VocabularySize, r.Length));
        Assert.NotEqual(rows[0], rows[1]);
        Assert.Equal(rows[^1], context.GetLogits(-1).ToArray());

        // The last row equals what decoding the prompt with only the last output gives.
        using var other = model.CreateContext(LlamaTestModels.SmallContext());
        using var single = new LlamaBatch(tokens.Length);
        single.AddRange(tokens, 0, 0);
        other.Decode(single);
        var expected = other.GetLogits(tokens.Length - 1).ToArray();
        for (var i = 0; i < expected.Length; i++)
        {
            Assert.True(MathF.Abs(expected[i] - rows[^1][i]) < 1e-3f, $"logit {i}: {expected[i]} vs {rows[^1][i]}");
        }
    }

    [Theory]
    [InlineData(2, 2)] // one pool for generation and batches
    [InlineData(1, 2)] // a batch pool and a (paused until needed) generation pool
    public void A_context_on_its_own_thread_pool_generates_what_per_decode_threads_generate(int threads, int batchThreads)
    {
        var model = models.Generated;
        var prompt = model.Tokenizer.Tokenize("Thread pools keep their workers between decodes, so");
        var options = LlamaTestModels.SmallContext() with { Threads = threads, BatchThreads = batchThreads };

        using var pooled = model.CreateContext(options);
        using var plain = model.CreateContext(options with { ThreadPool = false });
        Assert.True(pooled.HasThreadPool);
        Assert.False(plain.HasThreadPool);
        using var a = Generation.Greedy();
        using var b = Generation.Greedy();

        var expected = Generation.Generate(plain, b, prompt, 12);
        var actual = Generation.Generate(pooled, a, prompt, 12);

        Assert.Equal(expected, actual);
        Assert.Equal(plain.GetLogits(-1).ToArray(), pooled.GetLogits(-1).ToArray()); // same threads, same arithmetic
    }

    [Fact]
    public void Contexts_on_thread_pools_outlive_any_disposal_order()
    {
        var model = models.Generated;
        var prompt = model.Tokenizer.Tokenize("first");
        for (var i = 0; i < 3; i++)
        {
            // Several pooled contexts at once, freed in a different order each time.
            var contexts = Enumerable.Range(0, 3).Select(_ => model.CreateContext(LlamaTestModels.SmallContext())).ToList();
            foreach (var context in contexts)
            {
                using var sampler = Generation.Greedy();
                Assert.Single(Generation.Generate(context, sampler, prompt, 1));
            }

            foreach (var context in i % 2 == 0 ? contexts : Enumerable.Reverse(contexts))
            {
                context.Dispose();
                context.Dispose();
            }
        }
    }

    [Fact]
    public void Flash_attention_with_a_quantized_kv_cache_generates_like_the_default_cache()
    {
        // Q8_0 cache rows need a head size that is a multiple of 32.
        var path = Path.Combine(models.Folder, "head32.gguf");
        GgufLlamaModelFactory.Write(path, LlamaTestModels.GeneratedOptions with { EmbeddingLength = 128, HeadCount = 4, KeyValueHeadCount = 4 });
        using var model = LlamaModel.Load(path);
        var prompt = model.Tokenizer.Tokenize("Quantized caches save memory");
        var options = LlamaTestModels.SmallContext();

        using var plain = model.CreateContext(options with { FlashAttention = LlamaFlashAttention.Disabled });
        using var quantized = model.CreateContext(options with
        {
            FlashAttention = LlamaFlashAttention.Enabled,
            KeyCacheType = GgmlType.Q8_0,
            ValueCacheType = GgmlType.Q8_0,
        });
        using var a = Generation.Greedy();
        using var b = Generation.Greedy();

        var expected = Generation.Generate(plain, a, prompt, 4);
        var actual = Generation.Generate(quantized, b, prompt, 4);

        Assert.Equal(expected[0], actual[0]); // later tokens may drift with the cache's rounding
    }

    [SharedModelFact(LlamaTestModels.TinyLlama)]
    public void A_cache_type_the_model_cannot_use_is_refused_with_llama_cpp_reason()
    {
        var error = Assert.Throws<LlamaException>(() => models.Tiny.CreateContext(LlamaTestModels.SmallContext() with
        {
            FlashAttention = LlamaFlashAttention.Enabled,
            KeyCacheType = GgmlType.Q8_0,
        }));

        Assert.Contains("type_k=Q8_0", error.Message);
        Assert.Contains("n_embd_head_k", error.NativeLog);
    }

    [Fact]
    public void Context_reports_its_actual_sizes()
    {
        using var context = models.Generated.CreateContext(new LlamaContextOptions { ContextSize = 300, BatchSize = 64, MicroBatchSize = 32, SequenceCount = 3, Threads = 1 });

        Assert.True(context.ContextSize >= 300);
        Assert.Equal(64, context.BatchSize);
        Assert.Equal(32, context.MicroBatchSize);
        Assert.Equal(3, context.SequenceCount);
        Assert.Equal(1, context.Threads);
        context.SetThreads(2, 2);
        Assert.Equal(2, context.BatchThreads);
        Assert.Throws<ArgumentOutOfRangeException>(() => models.Generated.CreateContext(new LlamaContextOptions { SequenceCount = 100_000 }));
    }

    [Fact]
    public void Bad_batches_give_clear_errors()
    {
        var model = models.Generated;
        using var context = model.CreateContext(LlamaTestModels.SmallContext());
        using var batch = new LlamaBatch(4);

        Assert.Throws<ArgumentException>(() => context.Decode(batch)); // empty

        batch.Add(99_999, 0, 0, output: true); // not a token of this vocabulary
        var error = Assert.Throws<LlamaDecodeException>(() => context.Decode(batch));
        Assert.Equal(-1, error.Status);
        Assert.Contains("invalid", error.Message);

        batch.Clear();
        batch.Add(5, 0, 3, output: true); // sequence 3 of a one-sequence context
        Assert.Equal(-1, Assert.Throws<LlamaDecodeException>(() => context.Decode(batch)).Status);

        batch.Clear();
        batch.Add(5, 0, 0, output: false);
        context.Decode(batch);
        Assert.Throws<ArgumentException>(() => context.GetLogits(0)); // not an output row

        using var full = new LlamaBatch(2);
        Assert.Throws<ArgumentException>(() => full.Add(2, 1, ReadOnlySpan<int>.Empty));
        Assert.Throws<ArgumentException>(() => full.Add(2, 1, [0, 1])); // one sequence per token in this batch
        full.Add(1, 0, 0);
        full.Add(1, 1, 0);
        Assert.Throws<InvalidOperationException>(() => full.Add(2, 2, 0));
    }

    [Fact]
    public void A_full_context_reports_no_kv_slot()
    {
        var model = models.Generated;
        using var context = model.CreateContext(LlamaTestModels.SmallContext() with { ContextSize = 256, BatchSize = 256, MicroBatchSize = 256 });
        using var batch = new LlamaBatch(256);
        for (var i = 0; i < 256; i++)
        {
            batch.Add(7, i, 0);
        }

        context.Decode(batch);
        batch.Clear();
        batch.Add(7, 256, 0, output: true);

        var status = context.TryDecode(batch);

        Assert.NotEqual(0, status);
    }

    [Fact]
    public void A_cancelled_token_aborts_a_decode()
    {
        var model = models.Generated;
        using var context = model.CreateContext(LlamaTestModels.SmallContext());
        using var batch = new LlamaBatch(64);
        batch.AddRange(Enumerable.Range(10, 64).ToArray(), 0, 0);
        using var cancelled = new CancellationTokenSource();
        cancelled.Cancel();

        Assert.ThrowsAny<OperationCanceledException>(() => context.Decode(batch, cancelled.Token));

        // The context is usable afterwards.
        context.Memory.Clear();
        context.Decode(batch);
        Assert.Equal(model.VocabularySize, context.GetLogits().Length);
    }
}
