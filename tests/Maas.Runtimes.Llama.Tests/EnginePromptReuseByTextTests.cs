using Maas.Core.Llm;
using Maas.Runtimes.Llama.Serving;

namespace Maas.Runtimes.Llama.Tests;

/// <summary>
/// Reuse by text on a real engine: a conversation's next turn resends the model's answer as text, which tokenizes
/// differently from the tokens the model generated; the slot's own tokens stand for that text, and what the engine
/// then computes is what a cold prefill of the same tokens gives.
/// </summary>
[Collection(LlamaCollection.Name)]
public sealed class EnginePromptReuseByTextTests(LlamaTestModels models)
{
    private const int Answer = 12;

    [Fact]
    public async Task A_resent_answer_that_tokenizes_differently_reuses_the_generated_tokens_and_computes_what_a_cold_prefill_does()
    {
        await using var engine = models.ContextSensitiveEngine(batchSize: 64, prefixCache: true, unified: false, slots: 2, promptReuseByText: true);
        var turn = await SecondTurnAsync(engine);

        var (text, logprobs, usage) = await RunAsync(engine, turn.Prompt);

        // The slot's prompt and generated tokens stood for the text they spell, beyond where the token ids part.
        Assert.True(turn.Match.CachedTokens > turn.FirstPrompt.Length,
            $"reused {turn.Match.CachedTokens} of the slot's {turn.Cached.Length} tokens, the first prompt is {turn.FirstPrompt.Length}");
        Assert.True(turn.Match.CachedTokens > turn.TokenPrefix, $"text match {turn.Match.CachedTokens}, token match {turn.TokenPrefix}");
        Assert.Equal(turn.Prompt.Length, usage.PromptTokens);
        Assert.Equal(turn.Prompt.Length - (turn.Spliced.Length - turn.Reused), usage.CachedPromptTokens);
        Assert.True(usage.CachedPromptTokens > turn.TokenPrefix, $"{usage.CachedPromptTokens} cached, the token prefix is {turn.TokenPrefix}");
        Assert.Equal(1, engine.GetStatistics().PromptsReusedByText);

        // The answer's last token, sampled but never decoded, spelled its text too: the match reached the end of the
        // answer, and that one token was computed with the new message.
        Assert.True(turn.Match.CachedTokens > turn.Decoded, $"text match {turn.Match.CachedTokens}, the slot decoded {turn.Decoded}");

        // What was generated is what a cold prefill of the spliced tokens generates, logits within float tolerance.
        await using var cold = models.ContextSensitiveEngine(batchSize: 64, prefixCache: false, unified: false, slots: 1);
        var (coldText, coldLogprobs, coldUsage) = await RunAsync(cold, turn.Spliced);
        Assert.Equal(0, coldUsage.CachedPromptTokens);
        AssertSame(coldText, coldLogprobs, text, logprobs);
    }

    [Fact]
    public async Task With_the_option_off_a_resent_answer_reuses_only_the_token_prefix_as_before()
    {
        await using var engine = models.ContextSensitiveEngine(batchSize: 64, prefixCache: true, unified: false, slots: 2, promptReuseByText: false);
        var turn = await SecondTurnAsync(engine);
        Assert.Equal(turn.TokenPrefix, turn.Cached.AsSpan(0, turn.Decoded).CommonPrefixLength(turn.Prompt));

        var (text, logprobs, usage) = await RunAsync(engine, turn.Prompt);

        Assert.Equal(turn.TokenPrefix, usage.CachedPromptTokens);
        Assert.Equal(0, engine.GetStatistics().PromptsReusedByText);
        await using var cold = models.ContextSensitiveEngine(batchSize: 64, prefixCache: false, unified: false, slots: 1);
        var (coldText, coldLogprobs, _) = await RunAsync(cold, turn.Prompt);
        AssertSame(coldText, coldLogprobs, text, logprobs);
    }

    [Fact]
    public async Task A_request_cancelled_after_reuse_by_text_leaves_a_consistent_cache()
    {
        await using var engine = models.ContextSensitiveEngine(batchSize: 16, prefixCache: true, unified: false, slots: 1, promptReuseByText: true);
        var turn = await SecondTurnAsync(engine);

        // The turn is spelled with the slot's tokens, then its request goes away mid-generation.
        using (var stop = new CancellationTokenSource())
        {
            await using var running = engine.GenerateAsync(LlamaTestModels.Greedy(turn.Prompt, 500), stop.Token).GetAsyncEnumerator(stop.Token);
            Assert.True(await running.MoveNextAsync());
            await stop.CancelAsync();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
            {
                while (await running.MoveNextAsync())
                {
                }
            });
        }

        // The same turn again reuses the slot and still generates what a cold prefill of its spelling does.
        var (text, logprobs, usage) = await RunAsync(engine, turn.Prompt);
        var s = engine.GetStatistics();
        Assert.True(usage.CachedPromptTokens > turn.TokenPrefix, $"{usage.CachedPromptTokens} cached, the token prefix is {turn.TokenPrefix}");
        Assert.Equal(1, s.CancelledRequests);
        Assert.Equal(0, s.Running);
        await using var cold = models.ContextSensitiveEngine(batchSize: 16, prefixCache: false, unified: false, slots: 1);
        var (coldText, coldLogprobs, _) = await RunAsync(cold, turn.Spliced);
        AssertSame(coldText, coldLogprobs, text, logprobs);
    }

    [Fact]
    public async Task A_turn_whose_conversation_went_to_host_memory_is_spelled_with_the_saved_tokens_and_computes_what_a_cold_prefill_does()
    {
        // One slot: another prompt takes it after the first turn, and the conversation goes to host memory.
        await using var engine = models.ContextSensitiveEngine(batchSize: 64, prefixCache: true, unified: false, slots: 1, promptCacheBytes: 64L << 20, promptReuseByText: true);
        var turn = await SecondTurnAsync(engine);
        var first = engine.GetStatistics();
        int[] other = [.. engine.Tokenize(string.Concat(Enumerable.Range(0, 12).Select(i => $"Something else entirely, part {i}. ")), addSpecial: true, parseSpecial: false)];
        await RunAsync(engine, other);
        var before = engine.GetStatistics();
        Assert.Equal(first.PromptCacheSaves + 1, before.PromptCacheSaves);
        Assert.Equal(0, before.PromptsReusedByText);

        var (text, logprobs, usage) = await RunAsync(engine, turn.Prompt);

        // Restored from host memory, spelled with the saved tokens (and the answer's last, kept beside them).
        var s = engine.GetStatistics();
        Assert.Equal(before.PromptCacheHits + 1, s.PromptCacheHits);
        Assert.Equal(1, s.PromptsReusedByText);
        Assert.Equal(turn.Reused, s.PromptCacheRestoredTokens - before.PromptCacheRestoredTokens);
        Assert.Equal(turn.Prompt.Length - (turn.Spliced.Length - turn.Reused), usage.CachedPromptTokens);
        Assert.True(usage.CachedPromptTokens > turn.TokenPrefix, $"{usage.CachedPromptTokens} cached, the token prefix is {turn.TokenPrefix}");

        await using var cold = models.ContextSensitiveEngine(batchSize: 64, prefixCache: false, unified: false, slots: 1);
        var (coldText, coldLogprobs, _) = await RunAsync(cold, turn.Spliced);
        AssertSame(coldText, coldLogprobs, text, logprobs);
    }

    // Runs first turns until one's answer, resent as text with a new message, tokenizes differently from the tokens
    // generated (a random model picks tokens the tokenizer would merge); the engine's slot then holds that turn.
    private async Task<SecondTurn> SecondTurnAsync(LlamaEngine engine)
    {
        using var model = LlamaModel.Load(models.ContextSensitive);
        var pieces = new Pieces(model.Tokenizer);
        var tried = new List<string>();
        foreach (var topic in new[] { "tea", "rain", "maps", "salt", "ink", "ropes", "glass", "moss" })
        {
            var first = string.Concat(Enumerable.Range(0, 6).Select(i => $"Tell me about {topic} number {i}. "));
            int[] firstPrompt = [.. engine.Tokenize(first, addSpecial: true, parseSpecial: false)];
            var (answer, logprobs, _) = await RunAsync(engine, firstPrompt);
            // The slot's KV holds the prompt and the answer's tokens but the last (sampled, never decoded); reuse by
            // text spells with that last one too, and computes it with the rest of the new prompt.
            Assert.Equal(Answer, logprobs.Count);
            int[] cached = [.. firstPrompt, .. logprobs.Select(l => l.TokenId)];
            var decoded = cached.Length - 1;
            int[] prompt = [.. engine.Tokenize(first + answer + " And then what?", addSpecial: true, parseSpecial: false)];
            var tokenPrefix = cached.AsSpan(0, decoded).CommonPrefixLength(prompt);
            var match = PromptTextMatcher.Match(cached, prompt, pieces);
            if (match.CachedTokens > firstPrompt.Length && match.CachedTokens > tokenPrefix && match.PromptTokens < prompt.Length)
            {
                return new SecondTurn(firstPrompt, cached, decoded, prompt, tokenPrefix, match, PromptTextMatcher.Splice(cached, prompt, match));
            }

            tried.Add($"{topic}: token prefix {tokenPrefix}, text match {match}, first prompt {firstPrompt.Length}");
        }

        Assert.Fail("no answer re-tokenized differently after its prompt:\n" + string.Join("\n", tried));
        return null!;
    }

    // Float tolerance: a prefix computed in other batches than a cold prefill sums in another order; the token-prefix
    // reuse of today (the option off) already differs from a cold prefill by up to about 1.5e-3 on this model.
    private const double Tolerance = 1e-2;

    private static void AssertSame(string expectedText, List<TokenLogprob> expected, string text, List<TokenLogprob> actual)
    {
        Assert.Equal(expectedText, text);
        Assert.Equal(expected.Select(l => l.TokenId), actual.Select(l => l.TokenId));
        for (var i = 0; i < actual.Count; i++)
        {
            Assert.Equal(expected[i].Logprob, actual[i].Logprob, Tolerance);
            for (var k = 0; k < actual[i].Top.Count; k++)
            {
                Assert.Equal(expected[i].Top[k].Logprob, actual[i].Top[k].Logprob, Tolerance);
            }
        }
    }

    private static async Task<(string Text, List<TokenLogprob> Logprobs, LlmUsage Usage)> RunAsync(LlamaEngine engine, int[] prompt)
    {
        var text = "";
        var logprobs = new List<TokenLogprob>();
        LlmUsage? usage = null;
        var request = LlamaTestModels.Greedy(prompt, Answer) with { TopLogprobs = 3 };
        await foreach (var e in engine.GenerateAsync(request, CancellationToken.None))
        {
            text += e.Text;
            logprobs.AddRange(e.Logprobs ?? []);
            usage = e.Usage ?? usage;
        }

        return (text, logprobs, usage!);
    }

    // Cached: the first prompt and the whole answer; the slot decoded the first Decoded of them, so a turn spelled with
    // them reuses Reused tokens of its spliced prompt and computes the rest.
    private sealed record SecondTurn(int[] FirstPrompt, int[] Cached, int Decoded, int[] Prompt, int TokenPrefix, TextPrefixMatch Match, int[] Spliced)
    {
        public int Reused => Math.Min(Match.CachedTokens, Decoded);
    }

    // The token texts as the engine renders them (special tokens as their text, atomic).
    private sealed class Pieces(LlamaTokenizer tokenizer) : ITokenPieces
    {
        public ReadOnlySpan<byte> Piece(int token) => tokenizer.GetPieceBytes(token, special: true);

        public bool IsAtomic(int token) =>
            tokenizer.GetPieceBytes(token, special: true).Length == 0 ||
            (tokenizer.GetAttributes(token) & (LlamaTokenAttributes.Control | LlamaTokenAttributes.UserDefined | LlamaTokenAttributes.Unknown)) != 0;
    }
}
