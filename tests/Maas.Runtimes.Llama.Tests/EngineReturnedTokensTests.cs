using Maas.Core.Llm;
using Maas.Runtimes.Llama.Serving;

namespace Maas.Runtimes.Llama.Tests;

/// <summary>
/// <see cref="GenerationRequest.ReturnTokens"/>: the last event carries the generated ids (Ollama's context is built
/// from them), the same tokens the logprobs report: all of them, or with a stop string those of the text returned.
/// </summary>
[Collection(LlamaCollection.Name)]
public sealed class EngineReturnedTokensTests(LlamaTestModels models)
{
    [Fact]
    public async Task The_last_event_carries_the_generated_ids_and_a_stop_string_drops_those_cut_with_it()
    {
        await using var engine = models.ContextSensitiveEngine(batchSize: 128, prefixCache: false, unified: false, slots: 1);
        int[] prompt = [.. engine.Tokenize("the tokens of an answer come back", addSpecial: true, parseSpecial: false)];

        var plain = await DrainAsync(engine, LlamaTestModels.Greedy(prompt, 12));
        Assert.All(plain, e => Assert.Null(e.Tokens));

        var whole = await DrainAsync(engine, LlamaTestModels.Greedy(prompt, 12) with { ReturnTokens = true });
        var tokens = whole[^1].Tokens!;
        Assert.Equal(12, tokens.Count);
        Assert.Equal(whole.SelectMany(e => e.Logprobs ?? []).Select(l => l.TokenId), tokens);
        Assert.All(whole[..^1], e => Assert.Null(e.Tokens));

        // Cut in the middle of the text: fewer tokens, those whose text begins before the cut, as the logprobs.
        var text = string.Concat(whole.Select(e => e.Text));
        Assert.True(text.Length >= 8, $"the greedy answer is too short to cut: '{text}'");
        var stop = text.Substring(text.Length / 2, 2);
        var cut = await DrainAsync(engine, LlamaTestModels.Greedy(prompt, 12) with { ReturnTokens = true, Stop = [stop] });
        var kept = cut[^1].Tokens!;
        Assert.Equal(FinishReason.Stop, cut[^1].Finish);
        Assert.InRange(kept.Count, 1, tokens.Count - 1);
        Assert.Equal(tokens.Take(kept.Count), kept);
        Assert.Equal(cut.SelectMany(e => e.Logprobs ?? []).Select(l => l.TokenId), kept);
    }

    private static async Task<List<GenerationEvent>> DrainAsync(LlamaEngine engine, GenerationRequest request)
    {
        var events = new List<GenerationEvent>();
        await foreach (var e in engine.GenerateAsync(request, CancellationToken.None))
        {
            events.Add(e);
        }

        return events;
    }
}
