using Maas.Core.Formats.Gguf;
using Maas.Core.Llm;
using Maas.Runtimes.Llama.Serving;

namespace Maas.Runtimes.Llama.Tests;

/// <summary>
/// The engine's prefix cache with per-slot KV buffers (copied between slots) and with one unified buffer (shared by
/// metadata): a prompt that reuses another slot's KV must generate exactly what it generates computed from scratch.
/// </summary>
[Collection(LlamaCollection.Name)]
public sealed class EnginePrefixCacheTests(LlamaTestModels models)
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_prefix_copied_from_a_running_slot_generates_what_a_cold_prompt_generates(bool unified)
    {
        await using var cached = Load(prefixCache: true, unified);
        await using var cold = Load(prefixCache: false, unified);
        int[] prefix = [.. cached.Tokenize(string.Concat(Enumerable.Range(0, 24).Select(i => $"fact {i} holds. ")), addSpecial: true, parseSpecial: false)];
        int[] Prompt(string tail) => [.. prefix, .. cached.Tokenize(tail, addSpecial: false, parseSpecial: false)];

        // A long generation holds the prefix in its slot while the second request arrives.
        using var stop = new CancellationTokenSource();
        await using var running = cached.GenerateAsync(LlamaTestModels.Greedy(Prompt(" alpha"), 700), stop.Token).GetAsyncEnumerator(stop.Token);
        Assert.True(await running.MoveNextAsync());
        var before = cached.GetStatistics();

        var (text, logprobs, usage) = await RunAsync(cached, Prompt(" beta"));
        await StillRunsAsync(cached, before, "the long generation");
        var (coldText, coldLogprobs, coldUsage) = await RunAsync(cold, Prompt(" beta"));
        await stop.CancelAsync();

        Assert.True(usage.CachedPromptTokens >= prefix.Length - 1, $"cached {usage.CachedPromptTokens} of {usage.PromptTokens}, prefix {prefix.Length}");
        Assert.Equal(0, coldUsage.CachedPromptTokens);
        Assert.Equal(coldText, text);
        Assert.Equal(coldLogprobs.Select(l => l.TokenId), logprobs.Select(l => l.TokenId));
        for (var i = 0; i < logprobs.Count; i++)
        {
            Assert.Equal(coldLogprobs[i].Logprob, logprobs[i].Logprob, 0.02);
        }

        // Not a prompt-blind model: another prefix of the same length gives other numbers.
        var (_, otherLogprobs, _) = await RunAsync(cold, [.. cached.Tokenize(string.Concat(Enumerable.Range(0, 24).Select(i => $"rule {i} fails. ")), addSpecial: true,
            parseSpecial: false), .. cached.Tokenize(" beta", addSpecial: false, parseSpecial: false)]);
        Assert.True(otherLogprobs.Zip(coldLogprobs).Any(p => p.First.TokenId != p.Second.TokenId || Math.Abs(p.First.Logprob - p.Second.Logprob) > 0.1),
            "the model generates the same whatever the prompt: " +
                string.Join(", ", otherLogprobs.Zip(coldLogprobs).Select(p => $"{p.First.TokenId}/{p.First.Logprob:R} vs {p.Second.TokenId}/{p.Second.Logprob:R}")));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_finished_prompt_left_in_its_slot_is_reused_in_place(bool unified)
    {
        await using var engine = Load(prefixCache: true, unified);
        int[] prompt = [.. engine.Tokenize(string.Concat(Enumerable.Range(0, 20).Select(i => $"step {i} done. ")), addSpecial: true, parseSpecial: false)];
        var (first, _, firstUsage) = await RunAsync(engine, prompt);
        var (second, _, secondUsage) = await RunAsync(engine, prompt);

        Assert.Equal(0, firstUsage.CachedPromptTokens);
        Assert.Equal(prompt.Length, secondUsage.CachedPromptTokens); // its logits were kept: the first token needs no decode
        Assert.Equal(first, second);
        var statistics = engine.GetStatistics();
        Assert.True(statistics.KvCellsUsed >= prompt.Length, $"{statistics.KvCellsUsed} cells used");
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_recurring_prompt_starts_from_the_logits_kept_after_it_and_generates_what_a_cold_prompt_generates(bool unified)
    {
        await using var cached = Load(prefixCache: true, unified);
        await using var cold = Load(prefixCache: false, unified);
        int[] prompt = [.. cached.Tokenize(string.Concat(Enumerable.Range(0, 20).Select(i => $"note {i} kept. ")), addSpecial: true, parseSpecial: false)];
        var (coldText, coldLogprobs, _) = await RunAsync(cold, prompt);
        await RunAsync(cached, prompt);

        // Again while the first copy still runs (its slot's KV and logits are copied), and again once it is idle.
        using var stop = new CancellationTokenSource();
        await using var running = cached.GenerateAsync(LlamaTestModels.Greedy(prompt, 700), stop.Token).GetAsyncEnumerator(stop.Token);
        Assert.True(await running.MoveNextAsync());
        var before = cached.GetStatistics();
        var (copiedText, copiedLogprobs, copiedUsage) = await RunAsync(cached, prompt);
        await StillRunsAsync(cached, before, "the first copy");
        await stop.CancelAsync();
        var (text, logprobs, usage) = await RunAsync(cached, prompt);
        var after = cached.GetStatistics();

        Assert.Equal(prompt.Length, copiedUsage.CachedPromptTokens);
        Assert.Equal(prompt.Length, usage.CachedPromptTokens);
        Assert.Equal(before.PromptSteps, after.PromptSteps); // no step decoded a prompt token for either
        foreach (var (t, l) in new[] { (copiedText, copiedLogprobs), (text, logprobs) })
        {
            Assert.Equal(coldText, t);
            Assert.Equal(coldLogprobs.Select(x => x.TokenId), l.Select(x => x.TokenId));
            for (var i = 0; i < l.Count; i++)
            {
                Assert.Equal(coldLogprobs[i].Logprob, l[i].Logprob, 0.02);
            }
        }
    }

    [Fact]
    public async Task A_unified_cache_keeps_idle_prefixes_only_up_to_a_budget_dropping_the_least_recently_used()
    {
        await using var engine = Load(prefixCache: true, unified: true);
        int[] Prompt(string word) => [.. engine.Tokenize(string.Concat(Enumerable.Range(0, 60).Select(i => $"{word} {i}. ")), addSpecial: true, parseSpecial: false)];
        var prompts = new[] { Prompt("apple"), Prompt("berry"), Prompt("cherry") };
        await Task.WhenAll(prompts.Select(p => RunAsync(engine, p)));
        var full = engine.GetStatistics().KvCellsUsed;
        Assert.True(full > 600, $"three idle prefixes hold {full} cells");

        // The next admission trims the idle prefixes to the budget (512 cells while little runs), oldest first.
        await RunAsync(engine, Prompt("cherry"));
        var trimmed = engine.GetStatistics().KvCellsUsed;
        Assert.InRange(trimmed, 1, 512);
        var (_, _, usage) = await RunAsync(engine, Prompt("cherry"));
        Assert.Equal(prompts[2].Length, usage.CachedPromptTokens); // the most recently used stayed
    }

    private LlamaEngine Load(bool prefixCache, bool unified) => models.ContextSensitiveEngine(batchSize: 128, prefixCache, unified);

    // The 700-token generation must outlive the 12-token request beside it (about 13 steps), or the reuse tested was of
    // an idle slot, not a copy from a running one: once the short one counts as completed, it is the only one that has.
    private static async Task StillRunsAsync(LlamaEngine engine, LlmEngineStatistics before, string what)
    {
        await Maas.Testing.Conditions.WaitUntilAsync(() => engine.GetStatistics().CompletedRequests > before.CompletedRequests, "the short request counts as completed");
        Assert.True(engine.GetStatistics().CompletedRequests == before.CompletedRequests + 1,
            $"{what} had ended before the request beside it did: the copy from a running slot was not tested");
    }

    private static async Task<(string Text, List<TokenLogprob> Logprobs, LlmUsage Usage)> RunAsync(LlamaEngine engine, int[] prompt)
    {
        var text = "";
        var logprobs = new List<TokenLogprob>();
        LlmUsage? usage = null;
        await foreach (var e in engine.GenerateAsync(LlamaTestModels.Greedy(prompt, 12), CancellationToken.None))
        {
            text += e.Text;
            logprobs.AddRange(e.Logprobs ?? []);
            usage = e.Usage ?? usage;
        }

        return (text, logprobs, usage!);
    }
}
