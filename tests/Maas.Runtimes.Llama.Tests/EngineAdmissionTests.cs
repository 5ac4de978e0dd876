using Maas.Core.Llm;
using Maas.Runtimes.Llama.Serving;
using static Maas.Testing.Conditions;

namespace Maas.Runtimes.Llama.Tests;

/// <summary>
/// How new prompts join the decode steps: batched, every waiting prompt goes into the next step (with per-slot KV
/// buffers llama.cpp then decodes them in few passes); staggered, fewest tokens left first up to a token budget per
/// step, longer ones chunked. Either way each request must generate exactly what it generates alone.
/// </summary>
[Collection(LlamaCollection.Name)]
public sealed class EngineAdmissionTests(LlamaTestModels models)
{
    [Theory]
    [InlineData(LlmPromptAdmission.Batched, false, false)]
    [InlineData(LlmPromptAdmission.Auto, false, true)]
    [InlineData(LlmPromptAdmission.Staggered, false, true)]
    [InlineData(LlmPromptAdmission.Auto, true, true)]
    [InlineData(LlmPromptAdmission.Batched, true, false)]
    [InlineData(LlmPromptAdmission.Staggered, false, true, 2)]
    public async Task Prompts_that_wait_together_share_a_step_when_batched_and_a_budget_of_tokens_a_step_when_staggered(LlmPromptAdmission admission, bool unified, bool staggers,
    int burst = 0)
    {
        // With bursts (PromptBurstPrompts), the three cold prompts waiting make the budget two budgets.
        var budget = new PromptStepPlanner(staggers, 128, burst).BudgetFor(3);
        await using var engine = models.ContextSensitiveEngine(batchSize: 512, prefixCache: true, unified, admission, promptBurstPrompts: burst);
        Assert.Equal(staggers ? "staggered" : "batched", engine.Info.PromptAdmission);
        var slots = engine.Info.Slots;
        int[] Prompt(string word) => [.. engine.Tokenize(string.Concat(Enumerable.Range(0, 12).Select(i => $"{word} {i} waits. ")), addSpecial: true, parseSpecial: false)];
        var prompts = new[] { Prompt("amber"), Prompt("basil"), Prompt("cobalt") };
        // One budget (128) each, and too long for two to share a staggered step whole.
        Assert.All(prompts, p => Assert.True(p.Length is > 64 and <= 128, $"a prompt of {p.Length} tokens is not more than half a budget, or more than one"));

        // Generations of one length, started in one step, hold every slot while the three prompts queue; they end in
        // one step too, which frees every slot at once. (Whether the holders start in one step depends on how fast
        // the loop wakes, so a split start is simply tried again.)
        Task[] holders = [];
        for (var attempt = 0; ; attempt++)
        {
            var start = engine.GetStatistics().PromptSteps;
            // Short prompts, so that even staggered admission packs all three into one step.
            var firstTokens = Enumerable.Range(0, slots).Select(_ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).ToArray();
            holders = Enumerable.Range(0, slots)
                .Select(i => DrainAsync(engine, LlamaTestModels.Greedy([.. engine.Tokenize($"hold {i}", addSpecial: true, parseSpecial: false)], 400), firstTokens[i])).ToArray();
            await Task.WhenAll(firstTokens.Select(t => t.Task));
            if (engine.GetStatistics().PromptSteps - start == 1 || attempt == 4)
            {
                break;
            }

            await Task.WhenAll(holders);
        }

        // The engine pauses until the prompts wait (no holder can end meanwhile, however fast or busy the host).
        using var pause = engine.PauseSteps(Maas.Testing.Conditions.Ceiling);
        var queued = prompts.Select(p => RunAsync(engine, p)).ToArray();
        await WaitUntilAsync(() => engine.GetStatistics().Waiting == prompts.Length);
        Assert.All(holders, h => Assert.False(h.IsCompleted, "a holder finished before the prompts queued"));
        var before = engine.GetStatistics();
        pause.Resume();
        var results = await Task.WhenAll(queued);
        await Task.WhenAll(holders);
        var after = engine.GetStatistics();

        var promptSteps = after.PromptSteps - before.PromptSteps;
        if (staggers)
        {
            // Never more than the budget in a step, so the three take two or three steps (the budget filled with a
            // chunk of the next prompt when at least PromptStepPlanner.PackTokens of it fit).
            Assert.True(after.MaxPromptTokensPerStep <= budget, $"{after.MaxPromptTokensPerStep} prompt tokens in a step of a {budget}-token budget");
            var fewest = (prompts.Sum(p => p.Length) + budget - 1) / budget;
            Assert.True(promptSteps >= fewest && promptSteps <= prompts.Length, $"{promptSteps} prompt steps; before {before}, after {after}");
            if (burst > 0)
            {
                Assert.Equal(256, budget);
                // Two whole prompts (at most 128 tokens each) fit the first step, the third at most a second one.
                Assert.True(promptSteps <= 2, $"{promptSteps} prompt steps for a burst of three: it did not share a step");
            }
        }
        else
        {
            Assert.True(promptSteps is >= 1 and < 3, $"{promptSteps} prompt steps; before {before}, after {after}");
            Assert.True(after.MaxPromptsPerStep >= 2, $"at most {after.MaxPromptsPerStep} prompts per step");
            Assert.True(after.MaxPromptTokensPerStep > 128, $"at most {after.MaxPromptTokensPerStep} prompt tokens per step");
        }

        // Decoded side by side, each prompt generates what it generates on an engine of its own.
        await using var alone = Load(LlmPromptAdmission.Staggered, unified: false, prefixCache: false);
        for (var i = 0; i < prompts.Length; i++)
        {
            var expected = await RunAsync(alone, prompts[i]);
            Assert.Equal(expected.Select(l => l.TokenId), results[i].Select(l => l.TokenId));
            for (var k = 0; k < expected.Count; k++)
            {
                Assert.Equal(expected[k].Logprob, results[i][k].Logprob, 0.02);
            }
        }
    }

    [Fact]
    public async Task Staggered_a_long_prompt_is_decoded_in_chunks_after_a_short_one_and_generates_what_it_does_whole()
    {
        await using var engine = models.ContextSensitiveEngine(batchSize: 512, prefixCache: false, unified: false, LlmPromptAdmission.Staggered, slots: 2, promptChunkTokens: 16);
        int[] Prompt(string word, int sentences) =>
            [.. engine.Tokenize(string.Concat(Enumerable.Range(0, sentences).Select(i => $"{word} {i} waits. ")), addSpecial: true, parseSpecial: false)];
        var longPrompt = Prompt("amber", 40);
        var shortPrompt = Prompt("basil", 1);
        Assert.True(longPrompt.Length > 8 * 16, $"a prompt of {longPrompt.Length} tokens is not many chunks long");
        Assert.True(shortPrompt.Length <= 16, $"a prompt of {shortPrompt.Length} tokens is more than a chunk");

        // Both slots busy, so the two prompts wait together.
        var firstTokens = Enumerable.Range(0, 2).Select(_ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).ToArray();
        var holders = Enumerable.Range(0, 2)
            .Select(i => DrainAsync(engine, LlamaTestModels.Greedy([.. engine.Tokenize($"hold {i}", addSpecial: true, parseSpecial: false)], 200), firstTokens[i])).ToArray();
        await Task.WhenAll(firstTokens.Select(t => t.Task));
        using var pause = engine.PauseSteps(Maas.Testing.Conditions.Ceiling); // until the prompts wait: no holder can end meanwhile
        var queued = new[] { RunAsync(engine, longPrompt), RunAsync(engine, shortPrompt) };
        await WaitUntilAsync(() => engine.GetStatistics().Waiting == 2);
        Assert.All(holders, h => Assert.False(h.IsCompleted, "a holder finished before the prompts queued"));
        var before = engine.GetStatistics();
        pause.Resume();
        var results = await Task.WhenAll(queued);
        await Task.WhenAll(holders);
        var after = engine.GetStatistics();

        // One step for the short prompt (which the long one's chunks never join: the short one's first token waits for
        // no more than its own tokens), one per chunk of the long one.
        var chunks = (longPrompt.Length + 15) / 16;
        Assert.True(after.PromptSteps - before.PromptSteps == 1 + chunks, $"{after.PromptSteps - before.PromptSteps} prompt steps for {chunks} chunks and a short prompt");

        // Decoded in chunks, the long prompt generates what it generates in one piece on an engine of its own.
        await using var alone = Load(LlmPromptAdmission.Batched, unified: false, prefixCache: false);
        var expected = await RunAsync(alone, longPrompt);
        Assert.Equal(expected.Select(l => l.TokenId), results[0].Select(l => l.TokenId));
        for (var k = 0; k < expected.Count; k++)
        {
            Assert.Equal(expected[k].Logprob, results[0][k].Logprob, 0.02);
        }
    }

    private LlamaEngine Load(LlmPromptAdmission admission, bool unified, bool prefixCache = true) =>
        models.ContextSensitiveEngine(batchSize: 512, prefixCache, unified, admission);

    private static async Task<List<TokenLogprob>> RunAsync(LlamaEngine engine, int[] prompt)
    {
        var logprobs = new List<TokenLogprob>();
        await foreach (var e in engine.GenerateAsync(LlamaTestModels.Greedy(prompt, 8), CancellationToken.None))
        {
            logprobs.AddRange(e.Logprobs ?? []);
        }

        return logprobs;
    }

    private static async Task DrainAsync(LlamaEngine engine, GenerationRequest request, TaskCompletionSource firstToken)
    {
        await foreach (var _ in engine.GenerateAsync(request, CancellationToken.None))
        {
            firstToken.TrySetResult();
        }
    }
}
