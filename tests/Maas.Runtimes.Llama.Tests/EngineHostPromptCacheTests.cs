using System.Text.RegularExpressions;
using Maas.Core.Llm;
using Maas.Runtimes.Llama.Serving;
using Maas.Testing;
using Microsoft.Extensions.Logging;

namespace Maas.Runtimes.Llama.Tests;

/// <summary>
/// Slot placement by reuse and the host-memory prompt cache on a real engine: a conversation keeps its slot, a
/// prompt whose slot was overwritten comes back from host memory exactly as it was computed.
/// </summary>
[Collection(LlamaCollection.Name)]
public sealed class EngineHostPromptCacheTests(LlamaTestModels models)
{
    private const long Plenty = 64L << 20;

    [Fact]
    public async Task Interleaved_conversations_each_reuse_their_own_earlier_turn()
    {
        await using var engine = models.ContextSensitiveEngine(batchSize: 128, prefixCache: true, unified: false, slots: 4);
        int[] Turn(string who, int turn) =>
            [.. engine.Tokenize(string.Concat(Enumerable.Range(0, 8 * turn).Select(i => $"{who} says {i}. ")), addSpecial: true, parseSpecial: false)];

        // A and B share their first tokens (BOS and the opening words' shape), as chats share a template.
        await RunAsync(engine, Turn("alice", 1));
        await RunAsync(engine, Turn("bob", 1));
        var (_, _, a2) = await RunAsync(engine, Turn("alice", 2));
        var (_, _, b2) = await RunAsync(engine, Turn("bob", 2));

        Assert.True(a2.CachedPromptTokens >= Turn("alice", 1).Length - 1, $"alice's second turn reused {a2.CachedPromptTokens} tokens");
        Assert.True(b2.CachedPromptTokens >= Turn("bob", 1).Length - 1, $"bob's second turn reused {b2.CachedPromptTokens} tokens");
    }

    [Theory]
    [InlineData(LlmPromptAdmission.Batched)]
    [InlineData(LlmPromptAdmission.Staggered)]
    public async Task Conversations_sharing_a_long_system_prompt_with_more_of_them_than_slots_get_their_turns_back_from_host_memory(LlmPromptAdmission admission)
    {
        // The bench's multi-turn shape, small: six conversations over three slots, two streams each taking its three
        // conversations in turn, every turn resending the conversation (its answer as generated) plus a new message.
        // The shared system prompt is most of what a slot holds, so another conversation taking that slot keeps it and
        // loses less than half: the conversation's own turns must still go to host memory and come back from there.
        var logs = new CapturedLogs();
        await using var engine = models.ContextSensitiveEngine(batchSize: 128, prefixCache: true, unified: false, admission, slots: 3, promptCacheBytes: Plenty,
            logger: logs.Single("engine"));
        int[] Words(string text, bool first = false) => [.. engine.Tokenize(text, addSpecial: first, parseSpecial: false)];
        var system = Words(string.Concat(Enumerable.Range(0, 24).Select(i => $"Rule {i} applies to everyone. ")), first: true);
        int[] Message(int conversation, int turn) => Words(string.Concat(Enumerable.Range(0, 5).Select(i => $" Guest {conversation} asks {turn}.{i}?")));
        const int Conversations = 6, Streams = 2, Turns = 3, Answer = 8;
        Assert.True(system.Length > Turns * (Message(0, 0).Length + Answer), $"system prompt {system.Length} tokens, a message {Message(0, 0).Length}");
        Assert.True(Message(0, 0).Length > 2 * HostPromptCache.SaveMinimum, $"a message of {Message(0, 0).Length} tokens");

        var turns = new (int[] Prompt, LlmUsage Usage)[Conversations, Turns];
        await Task.WhenAll(Enumerable.Range(0, Streams).Select(stream => Task.Run(async () =>
        {
            var mine = Enumerable.Range(0, Conversations).Where(c => c % Streams == stream).ToArray();
            var histories = mine.ToDictionary(c => c, _ => system);
            for (var turn = 0; turn < Turns; turn++)
            {
                foreach (var c in mine)
                {
                    int[] prompt = [.. histories[c], .. Message(c, turn)];
                    var (_, logprobs, usage) = await RunAsync(engine, prompt, Answer);
                    turns[c, turn] = (prompt, usage);
                    histories[c] = [.. prompt, .. logprobs.Select(l => l.TokenId)];
                }
            }
        })));

        var s = engine.GetStatistics();
        var lines = logs.Lines.Select(l => l.Message).ToList();
        var report = $"{admission}: {s.PromptCacheSaves} saves, {s.PromptCacheHits} restores\n" + string.Join("\n", lines);
        for (var c = 0; c < Conversations; c++)
        {
            for (var turn = 1; turn < Turns; turn++)
            {
                // At least everything the conversation sent last time (the slot also kept most of the answer).
                Assert.True(turns[c, turn].Usage.CachedPromptTokens >= turns[c, turn - 1].Prompt.Length,
                    $"conversation {c} turn {turn + 1}: {turns[c, turn].Usage.CachedPromptTokens} of {turns[c, turn].Prompt.Length} cached\n{report}");
            }
        }

        // Three slots, six conversations: a conversation's slot went to another before its next turn, and the turn came
        // back from host memory; every restore shows in the statistics and in its request's timeline.
        var fromHost = lines.Count(l => l.StartsWith("Request ", StringComparison.Ordinal) && l.Contains(" cached (host)", StringComparison.Ordinal));
        Assert.True(s.PromptCacheHits >= Conversations, report);
        Assert.Equal(s.PromptCacheHits, fromHost);
        Assert.True(s.PromptCacheRestoredTokens >= s.PromptCacheHits * (system.Length + Message(0, 0).Length), report);
        Assert.True(s.PromptCacheSaves >= s.PromptCacheHits, report);
        Assert.InRange(s.PromptCacheBytes, 1, Plenty);
        Assert.Equal(Conversations * Turns, s.CompletedRequests);
    }

    [Fact]
    public async Task A_prompt_evicted_to_host_memory_is_restored_and_generates_what_it_did_cold()
    {
        await using var engine = models.ContextSensitiveEngine(batchSize: 128, prefixCache: true, unified: false, slots: 1, promptCacheBytes: Plenty);
        var x = Prompt(engine, "fact");
        var y = Prompt(engine, "rule");

        var (coldText, coldLogprobs, coldUsage) = await RunAsync(engine, x);
        await RunAsync(engine, y); // the only slot: x goes to host memory
        var saved = engine.GetStatistics();
        var (text, logprobs, usage) = await RunAsync(engine, x);
        var restored = engine.GetStatistics();

        Assert.Equal(0, coldUsage.CachedPromptTokens);
        Assert.Equal(1, saved.PromptCacheSaves);
        Assert.True(saved.PromptCacheBytes > 0 && saved.MemoryBytes > saved.PromptCacheBytes);
        // Whole: the logits after x were saved with it, so nothing is decoded before the first token.
        Assert.Equal(x.Length, usage.CachedPromptTokens);
        Assert.Equal(1, restored.PromptCacheHits);
        Assert.Equal(x.Length, restored.PromptCacheRestoredTokens);
        Assert.Equal(coldText, text);
        Assert.Equal(coldLogprobs.Select(l => l.TokenId), logprobs.Select(l => l.TokenId));
        for (var i = 0; i < logprobs.Count; i++)
        {
            Assert.Equal(coldLogprobs[i].Logprob, logprobs[i].Logprob, 1e-3);
            for (var k = 0; k < logprobs[i].Top.Count; k++)
            {
                Assert.Equal(coldLogprobs[i].Top[k].Logprob, logprobs[i].Top[k].Logprob, 1e-3);
            }
        }

        // Not a prompt-blind model: y generates something else.
        var (otherText, _, _) = await RunAsync(engine, y);
        Assert.NotEqual(coldText, otherText);
    }

    [Fact]
    public async Task Saves_and_restores_and_each_request_timeline_are_logged_at_debug()
    {
        var logs = new CapturedLogs();
        await using var engine = models.ContextSensitiveEngine(batchSize: 128, prefixCache: true, unified: false, slots: 1, promptCacheBytes: Plenty,
            logger: logs.Single("engine"));
        var x = Prompt(engine, "fact");
        var y = Prompt(engine, "rule");
        await RunAsync(engine, x);
        await RunAsync(engine, y); // x goes to host memory
        var (_, _, usage) = await RunAsync(engine, x); // and comes back
        var s = engine.GetStatistics();
        var lines = logs.Lines.Where(l => l.Level == LogLevel.Debug).Select(l => l.Message).ToList();

        // One save (x, with its answer) and one restore of the whole prompt, in bytes the cache counted.
        var saves = lines.Select(l => Regex.Match(l, @"^Slot 0: saved (\d+) tokens \((\d+) bytes\) to the host prompt cache in [\d.]+ ms")).Where(m => m.Success).ToList();
        var restores = lines.Select(l => Regex.Match(l, @"^Slot 0: restored (\d+) prompt tokens of a saved (\d+) \((\d+) bytes\) from the host prompt cache in [\d.]+ ms"))
            .Where(m => m.Success).ToList();
        Assert.True(saves.Count == 2, string.Join("\n", lines)); // x when y came, y when x came back
        var restore = Assert.Single(restores);
        Assert.Equal(x.Length, int.Parse(restore.Groups[1].Value));
        // The prompt and the 11 answer tokens decoded after it (the 12th was sampled, never decoded): what was saved.
        Assert.Equal(x.Length + 11, int.Parse(restore.Groups[2].Value));
        Assert.Equal(saves[0].Groups[1].Value, restore.Groups[2].Value);
        Assert.Equal(saves[0].Groups[2].Value, restore.Groups[3].Value);
        Assert.Equal(s.PromptCacheRestoredTokens, x.Length);

        // Each request's timeline when it ends: where its cached tokens came from, its tokens and steps.
        var timelines = lines.Where(l => l.StartsWith("Request ", StringComparison.Ordinal)).ToList();
        Assert.Equal(3, timelines.Count);
        Assert.Contains($"{x.Length} prompt tokens, 0 cached (none)", timelines[0], StringComparison.Ordinal);
        Assert.Contains($"{x.Length} prompt tokens, {usage.CachedPromptTokens} cached (host)", timelines[2], StringComparison.Ordinal);
        Assert.All(timelines, t => Assert.Matches(@"first token [\d.]+ ms after it was queued; 12 tokens in \d+ steps over [\d.]+ ms, of which its steps' decodes [\d.]+ ms", t));
    }

    [Fact]
    public async Task Once_it_has_saved_an_idle_engine_makes_spare_buffers_and_the_next_save_writes_into_one()
    {
        var logs = new CapturedLogs();
        await using var engine = models.ContextSensitiveEngine(batchSize: 128, prefixCache: true, unified: false, slots: 1, promptCacheBytes: Plenty,
            logger: logs.Single("engine"));
        await RunAsync(engine, Prompt(engine, "fact"));
        await RunAsync(engine, Prompt(engine, "rule")); // fact saved, into new memory: no spare buffer yet
        var saves = SaveLines(logs);
        Assert.EndsWith("into a new buffer", Assert.Single(saves), StringComparison.Ordinal);

        // Idle after a save: spare buffers the size of that save's are made, within a sixteenth of the budget.
        var idle = await Conditions.ReadUntilAsync(() => Task.FromResult(engine.GetStatistics()), s => s.PromptCacheSpareBytes > 0, "spare buffers made while idle");
        Assert.InRange(idle.PromptCacheSpareBytes, 1, Plenty / 16);
        Assert.True(idle.MemoryBytes > idle.PromptCacheBytes + idle.PromptCacheSpareBytes, idle.ToString());

        await RunAsync(engine, Prompt(engine, "item")); // rule saved, into one of them
        saves = SaveLines(logs);
        Assert.Equal(2, saves.Count);
        Assert.EndsWith("into a reused buffer", saves[1], StringComparison.Ordinal);

        static List<string> SaveLines(CapturedLogs logs) =>
            [.. logs.Lines.Select(l => l.Message).Where(m => m.StartsWith("Slot 0: saved ", StringComparison.Ordinal))];
    }

    [Fact]
    public async Task The_host_cache_never_exceeds_its_budget()
    {
        // Measure one prompt's state, then allow a little over two of them.
        long size;
        await using (var probe = models.ContextSensitiveEngine(batchSize: 128, prefixCache: true, unified: false, slots: 1, promptCacheBytes: Plenty))
        {
            await RunAsync(probe, Prompt(probe, "item8"));
            await RunAsync(probe, Prompt(probe, "item9"));
            size = probe.GetStatistics().PromptCacheBytes;
        }

        var budget = (size * 5) / 2;
        await using var engine = models.ContextSensitiveEngine(batchSize: 128, prefixCache: true, unified: false, slots: 1, promptCacheBytes: budget);
        foreach (var word in new[] { "item0", "item1", "item2", "item3", "item4", "item5" })
        {
            await RunAsync(engine, Prompt(engine, word));
            var s = engine.GetStatistics();
            Assert.InRange(s.PromptCacheBytes, 0, budget);
            Assert.Equal(budget, s.PromptCacheBudgetBytes);
        }

        var end = engine.GetStatistics();
        Assert.Equal(5, end.PromptCacheSaves);
        Assert.Equal(2, end.PromptCacheEntries);
        Assert.Equal(3, end.PromptCacheEvictions);

        // The most recent stay: item4 comes back from host memory, item1 went.
        var (_, _, usage) = await RunAsync(engine, Prompt(engine, "item4"));
        Assert.Equal(Prompt(engine, "item4").Length, usage.CachedPromptTokens);
        Assert.Equal(1, engine.GetStatistics().PromptCacheHits);
        var (_, _, gone) = await RunAsync(engine, Prompt(engine, "item1"));
        Assert.True(gone.CachedPromptTokens < 8, $"item1 reused {gone.CachedPromptTokens} tokens");
    }

    [Fact]
    public async Task A_request_cancelled_after_a_restore_leaves_a_consistent_cache()
    {
        await using var engine = models.ContextSensitiveEngine(batchSize: 16, prefixCache: true, unified: false, slots: 1, promptCacheBytes: Plenty);
        var x = Prompt(engine, "fact");
        var y = Prompt(engine, "rule");
        var (coldText, coldLogprobs, _) = await RunAsync(engine, x);
        await RunAsync(engine, y);

        // x comes back from host memory, then its request goes away mid-generation.
        using (var stop = new CancellationTokenSource())
        {
            await using var running = engine.GenerateAsync(LlamaTestModels.Greedy([.. x, .. engine.Tokenize(" and more", addSpecial: false, parseSpecial: false)], 500),
                stop.Token).GetAsyncEnumerator(stop.Token);
            Assert.True(await running.MoveNextAsync());
            await stop.CancelAsync();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
            {
                while (await running.MoveNextAsync())
                {
                }
            });
        }

        // y (saved when x came back) and x both come back whole.
        var (_, _, yUsage) = await RunAsync(engine, y);
        var (text, logprobs, usage) = await RunAsync(engine, x);
        var s = engine.GetStatistics();
        Assert.Equal(y.Length, yUsage.CachedPromptTokens);
        Assert.Equal(x.Length - 1, usage.CachedPromptTokens); // the slot kept the logits after the longer prompt only
        Assert.Equal(coldText, text);
        Assert.Equal(coldLogprobs.Select(l => l.TokenId), logprobs.Select(l => l.TokenId));
        Assert.Equal(0, s.Running);
        Assert.Equal(1, s.CancelledRequests);
        Assert.InRange(s.PromptCacheBytes, 1, Plenty);
    }

    private static int[] Prompt(LlamaEngine engine, string word) =>
        [.. engine.Tokenize(string.Concat(Enumerable.Range(0, 16).Select(i => $"{word} {i} holds. ")), addSpecial: true, parseSpecial: false)];

    private static async Task<(string Text, List<TokenLogprob> Logprobs, LlmUsage Usage)> RunAsync(LlamaEngine engine, int[] prompt, int maxTokens = 12)
    {
        var text = "";
        var logprobs = new List<TokenLogprob>();
        LlmUsage? usage = null;
        var request = LlamaTestModels.Greedy(prompt, maxTokens) with { TopLogprobs = 3 };
        await foreach (var e in engine.GenerateAsync(request, CancellationToken.None))
        {
            text += e.Text;
            logprobs.AddRange(e.Logprobs ?? []);
            usage = e.Usage ?? usage;
        }

        return (text, logprobs, usage!);
    }
}
