using Maas.Core.Llm;
using Maas.Runtimes.Llama.Serving;

namespace Maas.Runtimes.Llama.Tests;

/// <summary>
/// Prompt logprobs (<see cref="GenerationRequest.PromptLogprobs"/>, echo with logprobs on /v1/completions): the engine
/// decodes the whole prompt with logits at every position, chunk by chunk, and returns each prompt token's logprob after
/// the tokens before it, whatever its prefix cache holds.
/// </summary>
[Collection(LlamaCollection.Name)]
public sealed class EnginePromptLogprobsTests(LlamaTestModels models)
{
    [Theory]
    [InlineData(false, 256)]
    [InlineData(true, 256)]
    [InlineData(false, 48)]
    public async Task Prompt_logprobs_match_the_model_scored_directly(bool unified, int batchSize)
    {
        await using var engine = models.ContextSensitiveEngine(batchSize, prefixCache: true, unified);
        // Longer than a scored step (64 tokens) and, at batch 48, than the batch: scored over several steps.
        int[] prompt = [.. engine.Tokenize(string.Concat(Enumerable.Range(0, 30).Select(i => $"line {i} says hi. ")), addSpecial: true, parseSpecial: false)];
        Assert.True(prompt.Length > 130, $"{prompt.Length} tokens");

        var (scored, events, usage) = await ScoreAsync(engine, prompt, maxTokens: 0, top: 3);

        var expected = ScoreDirectly(prompt);
        Assert.Equal(prompt.Length, scored.Count);
        Assert.Equal(prompt, scored.Select(t => t.TokenId));
        Assert.True(scored[0].Unscored);
        Assert.Empty(scored[0].Top);
        AssertClose(expected, scored);
        for (var k = 1; k < prompt.Length; k++)
        {
            Assert.False(scored[k].Unscored, $"token {k}");
            Assert.Equal(3, scored[k].Top.Count);
            Assert.True(scored[k].Top[0].Logprob >= scored[k].Logprob - 1e-4, $"token {k}: best {scored[k].Top[0].Logprob}, its own {scored[k].Logprob}");
        }

        // max_tokens 0: the prompt is scored, nothing generated, and the generation ends on "length".
        Assert.Equal(FinishReason.Length, events[^1].Finish);
        Assert.Equal(new LlmUsage(prompt.Length, 0, 0), usage);
        Assert.All(events, e => Assert.Equal("", e.Text));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_prompt_the_cache_holds_is_still_scored_whole_and_generates_what_it_generates_cold(bool unified)
    {
        await using var engine = models.ContextSensitiveEngine(256, prefixCache: true, unified, promptCacheBytes: 64L << 20, promptReuseByText: true);
        int[] prompt = [.. engine.Tokenize(string.Concat(Enumerable.Range(0, 12).Select(i => $"item {i} is ready. ")), addSpecial: true, parseSpecial: false)];

        // First a plain request: its slot keeps the prompt's KV and the logits after it.
        var plain = await RunAsync(engine, LlamaTestModels.Greedy(prompt, 6));
        Assert.Equal(0, plain.Usage.CachedPromptTokens);
        var again = await RunAsync(engine, LlamaTestModels.Greedy(prompt, 6));
        Assert.Equal(prompt.Length, again.Usage.CachedPromptTokens); // the cache would skip it all

        var (first, _, firstUsage) = await ScoreAsync(engine, prompt, maxTokens: 6, top: 2);
        var (second, _, secondUsage) = await ScoreAsync(engine, prompt, maxTokens: 6, top: 2);

        var expected = ScoreDirectly(prompt);
        foreach (var (scored, usage) in new[] { (first, firstUsage), (second, secondUsage) })
        {
            Assert.Equal(0, usage.CachedPromptTokens);
            Assert.Equal(prompt.Length, scored.Count);
            Assert.True(scored[0].Unscored);
            AssertClose(expected, scored);
        }

        // The generation after a scored prompt is the one a plain request gets.
        var scoredRun = await RunAsync(engine, LlamaTestModels.Greedy(prompt, 6) with { PromptLogprobs = true });
        Assert.Equal(plain.Text, scoredRun.Text);
        Assert.Equal(plain.Logprobs.Select(l => l.TokenId), scoredRun.Logprobs.Select(l => l.TokenId));
        Assert.Equal(6, scoredRun.Usage.CompletionTokens);

        // And a plain request after it still reuses the slot (what the scored one left there is that prompt's KV).
        var after = await RunAsync(engine, LlamaTestModels.Greedy(prompt, 6));
        Assert.Equal(plain.Text, after.Text);
        Assert.True(after.Usage.CachedPromptTokens >= prompt.Length - 1, $"{after.Usage.CachedPromptTokens} cached");
    }

    [Fact]
    public async Task The_logprob_of_each_prompt_token_is_what_generating_it_after_the_tokens_before_it_reports()
    {
        await using var engine = models.ContextSensitiveEngine(256, prefixCache: true, unified: false);
        int[] head = [.. engine.Tokenize("The quick brown fox", addSpecial: true, parseSpecial: false)];

        // A greedy continuation with its logprobs, then the prompt plus that continuation scored.
        var generated = await RunAsync(engine, LlamaTestModels.Greedy(head, 8));
        int[] whole = [.. head, .. generated.Logprobs.Select(l => l.TokenId)];
        var (scored, _, _) = await ScoreAsync(engine, whole, maxTokens: 0, top: 0);

        Assert.Equal(whole.Length, scored.Count);
        for (var i = 0; i < generated.Logprobs.Count; i++)
        {
            Assert.Equal(generated.Logprobs[i].Logprob, scored[head.Length + i].Logprob, 0.02);
        }
    }

    [Fact]
    public async Task Several_scored_prompts_in_one_step_each_get_their_own()
    {
        await using var engine = models.ContextSensitiveEngine(256, prefixCache: true, unified: false);
        int[][] prompts =
        [
            [.. engine.Tokenize("alpha beta gamma delta", addSpecial: true, parseSpecial: false)],
            [.. engine.Tokenize(string.Concat(Enumerable.Range(0, 10).Select(i => $"row {i}; ")), addSpecial: true, parseSpecial: false)],
            [.. engine.Tokenize("one", addSpecial: true, parseSpecial: false)],
        ];

        var requests = prompts.Select(p => new GenerationRequest
        {
            PromptTokens = p,
            MaxTokens = 2,
            PromptLogprobs = true,
            Logprobs = true,
            TopLogprobs = 1,
            Sampling = new SamplingOptions { Temperature = 0, IgnoreEos = true }
        }).ToArray();
        var streams = engine.GenerateTogether(requests, CancellationToken.None);
        for (var i = 0; i < prompts.Length; i++)
        {
            var events = new List<GenerationEvent>();
            await foreach (var e in streams[i])
            {
                events.Add(e);
            }

            var scored = Assert.Single(events, e => e.PromptLogprobs is not null).PromptLogprobs!;
            Assert.Same(events[0].PromptLogprobs, scored); // ahead of any generated text
            var expected = ScoreDirectly(prompts[i]);
            Assert.Equal(prompts[i], scored.Select(t => t.TokenId));
            AssertClose(expected, scored);

            Assert.Equal(2, events[^1].Usage!.CompletionTokens);
        }
    }

    // A prompt decoded over several steps of other sizes goes through other kernels and sums in another order than one
    // batch, so values differ a little, more for unlikely tokens: within 0.02 plus 1% of the value each, and 0.01 on average
    // (a position off by one would be off by whole units).
    private static void AssertClose(float[] expected, IReadOnlyList<TokenLogprob> scored)
    {
        Assert.Equal(expected.Length, scored.Count);
        var total = 0.0;
        for (var k = 1; k < expected.Length; k++)
        {
            var difference = Math.Abs(expected[k] - scored[k].Logprob);
            Assert.True(difference <= 0.02 + (0.01 * Math.Abs(expected[k])), $"token {k}: {scored[k].Logprob} where one batch gives {expected[k]}");
            total += difference;
        }

        Assert.True(total / (expected.Length - 1) < 0.01, $"on average {total / (expected.Length - 1)} apart");
    }

    // Every position of the prompt decoded in one batch on a context of its own: element k is log P(prompt[k] | prompt[..k]).
    private float[] ScoreDirectly(int[] prompt)
    {
        using var model = LlamaModel.Load(models.ContextSensitive);
        using var context = model.CreateContext(new LlamaContextOptions { ContextSize = 1024, BatchSize = 512, MicroBatchSize = 512, SequenceCount = 1, Threads = 2 });
        using var batch = new LlamaBatch(prompt.Length);
        for (var i = 0; i < prompt.Length; i++)
        {
            batch.Add(prompt[i], i, 0, output: true);
        }

        context.Decode(batch);
        var result = new float[prompt.Length];
        result[0] = float.NaN;
        for (var k = 1; k < prompt.Length; k++)
        {
            result[k] = LlamaLogits.LogProbability(context.GetLogits(k - 1), prompt[k]);
        }

        return result;
    }

    private static async Task<(IReadOnlyList<TokenLogprob> Scored, List<GenerationEvent> Events, LlmUsage Usage)> ScoreAsync(LlamaEngine engine, int[] prompt, int maxTokens,
        int top)
    {
        var request = new GenerationRequest
        {
            PromptTokens = prompt,
            MaxTokens = maxTokens,
            PromptLogprobs = true,
            Logprobs = true,
            TopLogprobs = top,
            Sampling = new SamplingOptions { Temperature = 0, IgnoreEos = true },
        };
        var events = new List<GenerationEvent>();
        await foreach (var e in engine.GenerateAsync(request, CancellationToken.None))
        {
            events.Add(e);
        }

        var scored = Assert.Single(events, e => e.PromptLogprobs is not null).PromptLogprobs!;
        return (scored, events, events[^1].Usage!);
    }

    private static async Task<(string Text, List<TokenLogprob> Logprobs, LlmUsage Usage)> RunAsync(LlamaEngine engine, GenerationRequest request)
    {
        var text = "";
        var logprobs = new List<TokenLogprob>();
        LlmUsage? usage = null;
        await foreach (var e in engine.GenerateAsync(request, CancellationToken.None))
        {
            text += e.Text;
            logprobs.AddRange(e.Logprobs ?? []);
            usage = e.Usage ?? usage;
        }

        return (text, logprobs, usage!);
    }
}
