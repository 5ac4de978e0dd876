using System.Globalization;
using System.Net;
using System.Text.Json;
using Maas.Core.Formats.Gguf;
using Maas.Server.Tests.Support;
using Maas.Server.Tests.TensorInference;
using Maas.Testing;

namespace Maas.Server.Tests.OpenAi;

/// <summary>
/// The host-memory prompt cache seen from outside: chats that take turns over fewer slots than there are chats get
/// their earlier turns back (cached_tokens), and the engine statistics, /metrics and the model host's memory
/// accounting all show what it holds and restores; with <c>Maas:Llm:PromptCacheBytes</c> 0 it is off.
/// </summary>
public sealed class PromptCacheServingTests
{
    private const string Model = "talk";
    private const string Labels = "{model=\"talk\",version=\"1\"}";

    // Four chats over two slots, one client, each chat's turn after the three others': a chat's slot always went to
    // another chat before its next turn. The system prompt they share is most of what a slot holds.
    private const int Chats = 4;
    private const int Turns = 3;

    [Theory]
    [InlineData("batched", false)]
    [InlineData("staggered", false)]
    [InlineData("staggered", true)]
    public async Task Chats_taking_turns_over_fewer_slots_get_each_earlier_turn_back_and_the_statistics_metrics_and_memory_show_it(string admission, bool reuseByText)
    {
        await using var server = await StartAsync(new() { ["Maas:Llm:PromptAdmission"] = admission, ["Maas:Llm:PromptReuseByText"] = reuseByText ? "true" : "false" });
        var turns = await ChatAsync(server);

        var later = turns.Where(t => t.Turn > 0).ToList();
        foreach (var t in later)
        {
            // Everything the chat sent last time (the answer is text again, its first tokens may split otherwise).
            var previous = turns.Single(p => p.Chat == t.Chat && p.Turn == t.Turn - 1);
            Assert.True(t.Cached >= previous.Prompt - 2, $"{admission}: chat {t.Chat} turn {t.Turn + 1} reused {t.Cached} tokens, its previous prompt had {previous.Prompt}");
        }

        // Every later turn came back from host memory, and nothing else did: the first turns found only the shared
        // system prompt, which every slot holds.
        var s = await EngineStatisticsAsync(server);
        Assert.Equal(later.Count, s.GetProperty("prompt_cache_hits").GetInt64());
        var restored = s.GetProperty("prompt_cache_restored_tokens").GetInt64();
        if (!reuseByText)
        {
            // Token matching: the tokens restored are the request's cached ones. Spelled by text, a restored prompt
            // holds the model's own tokens for the answer, which may be more or fewer than the request's for that text.
            Assert.Equal(later.Sum(t => (long)t.Cached), restored);
        }

        Assert.True(restored > 0, s.ToString());
        Assert.True(s.GetProperty("prompt_cache_saves").GetInt64() >= later.Count, s.ToString());
        var bytes = s.GetProperty("prompt_cache_bytes").GetInt64();
        Assert.InRange(bytes, 1, s.GetProperty("prompt_cache_budget_bytes").GetInt64());

        // The same numbers on /metrics (read when scraped).
        var metrics = await server.Client.GetStringAsync("/metrics");
        Assert.Equal(later.Count, Sample(metrics, "maas_llm_prompt_cache_hits_total" + Labels));
        Assert.Equal(restored, Sample(metrics, "maas_llm_prompt_cache_restored_tokens_total" + Labels));
        Assert.Equal(bytes, Sample(metrics, "maas_llm_prompt_cache_bytes" + Labels));
        Assert.Equal(s.GetProperty("memory_bytes").GetInt64(), Sample(metrics, "maas_llm_memory_bytes" + Labels));

        // The cache counts in the model's memory footprint, where a memory budget sees it.
        var memory = await LoadedMemoryAsync(server);
        Assert.Equal(s.GetProperty("memory_bytes").GetInt64(), memory.GetProperty("engine_bytes").GetInt64());
        Assert.True(memory.GetProperty("accounted_bytes").GetInt64() >= memory.GetProperty("engine_bytes").GetInt64(), memory.ToString());
    }

    [Fact]
    public async Task The_model_footprint_grows_by_exactly_what_the_host_prompt_cache_holds()
    {
        await using var server = await StartAsync([]);
        await ChatAsync(server, chats: 2, turns: 1); // two slots, two chats: nothing overwritten yet
        var empty = await EngineStatisticsAsync(server);
        Assert.Equal(0, empty.GetProperty("prompt_cache_bytes").GetInt64());
        Assert.Equal(empty.GetProperty("memory_bytes").GetInt64(), (await LoadedMemoryAsync(server)).GetProperty("engine_bytes").GetInt64());
        // The second chat's system prompt was copied from the first one's slot through a state buffer; spare buffers
        // (none kept here) count in the footprint as the cache does.
        var baseline = empty.GetProperty("memory_bytes").GetInt64() - empty.GetProperty("prompt_cache_spare_bytes").GetInt64();

        await ChatAsync(server, chats: Chats, turns: 1, firstChat: 2); // two more chats take the two slots
        var held = await EngineStatisticsAsync(server);
        var bytes = held.GetProperty("prompt_cache_bytes").GetInt64();
        Assert.Equal(2, held.GetProperty("prompt_cache_saves").GetInt64());
        Assert.Equal(2, held.GetProperty("prompt_cache_entries").GetInt32());
        Assert.True(bytes > 0, held.ToString());
        var spare = held.GetProperty("prompt_cache_spare_bytes").GetInt64();
        Assert.InRange(spare, 0, held.GetProperty("prompt_cache_budget_bytes").GetInt64() / 16);
        Assert.Equal(baseline + bytes + spare, held.GetProperty("memory_bytes").GetInt64());
        Assert.Equal(baseline + bytes + spare, (await LoadedMemoryAsync(server)).GetProperty("engine_bytes").GetInt64());
    }

    [Fact]
    public async Task Spare_buffers_made_while_the_engine_idles_count_in_the_footprint_within_a_sixteenth_of_the_budget()
    {
        await using var server = await StartAsync(new() { ["Maas:Llm:PromptCacheSpareBuffers"] = "3" });
        await ChatAsync(server, chats: Chats, turns: 1); // four chats over two slots: two saves

        // Once idle after its saves, the engine makes spare buffers, counted in the footprint.
        var s = await Conditions.ReadUntilAsync(() => EngineStatisticsAsync(server), x => x.GetProperty("prompt_cache_spare_bytes").GetInt64() > 0,
            "spare buffers made while idle");
        var spare = s.GetProperty("prompt_cache_spare_bytes").GetInt64();
        Assert.InRange(spare, 1, s.GetProperty("prompt_cache_budget_bytes").GetInt64() / 16);
        Assert.True(s.GetProperty("memory_bytes").GetInt64() > s.GetProperty("prompt_cache_bytes").GetInt64() + spare, s.ToString());

        // Only the spare buffers change while it idles.
        var later = await EngineStatisticsAsync(server);
        Assert.Equal(s.GetProperty("memory_bytes").GetInt64() - spare, later.GetProperty("memory_bytes").GetInt64() - later.GetProperty("prompt_cache_spare_bytes").GetInt64());
    }

    [Fact]
    public async Task With_prompt_cache_bytes_0_nothing_is_saved_and_a_chat_whose_slot_went_to_another_computes_its_turns_again()
    {
        await using var server = await StartAsync(new() { ["Maas:Llm:PromptCacheBytes"] = "0" });
        var turns = await ChatAsync(server);

        var s = await EngineStatisticsAsync(server);
        foreach (var name in new[] { "prompt_cache_budget_bytes", "prompt_cache_saves", "prompt_cache_hits", "prompt_cache_restored_tokens", "prompt_cache_bytes",
            "prompt_cache_entries" })
        {
            Assert.Equal(0, s.GetProperty(name).GetInt64());
        }

        // Only the system prompt, still in every slot, is reused: each chat's own earlier turns are gone.
        var system = turns.Where(t => t.Turn == 0).Skip(1).Min(t => t.Cached);
        Assert.All(turns.Where(t => t.Turn > 0), t => Assert.InRange(t.Cached, system, system + 16));
        var metrics = await server.Client.GetStringAsync("/metrics");
        Assert.Equal(0, Sample(metrics, "maas_llm_prompt_cache_hits_total" + Labels));
        Assert.Equal(0, Sample(metrics, "maas_llm_prompt_cache_bytes" + Labels));
    }

    private static async Task<MaasTestServer> StartAsync(Dictionary<string, string?> overrides)
    {
        var settings = LlmServerFixture.Settings;
        settings["Maas:Llm:Slots"] = "2";
        settings["Maas:Llm:ContextPerSlot"] = "2048";
        // No spare buffers: ones made while the engine idles would change the footprint between two reads compared here
        // (EngineHostPromptCacheTests and the spare buffer test below cover them).
        settings["Maas:Llm:PromptCacheSpareBuffers"] = "0";
        foreach (var (key, value) in overrides)
        {
            settings[key] = value;
        }

        var server = await MaasTestServer.StartAsync(settings: settings);
        try
        {
            using var files = new TempDirectory("maas-prompt-cache");
            var gguf = Path.Combine(files.Path, "talk.gguf");
            GgufLlamaModelFactory.Write(gguf, new GgufLlamaModelOptions { Name = "maas-test-llm", Seed = 7 });
            await LlmServerFixture.RegisterAsync(server.Client, Model, await File.ReadAllBytesAsync(gguf), "talk.gguf");
            return server;
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }
    }

    // Chats taking turns from one client, each turn resending the chat with the last answer and a new message; the
    // prompt and cached tokens of every turn.
    private static async Task<List<(int Chat, int Turn, int Prompt, int Cached)>> ChatAsync(MaasTestServer server, int chats = Chats, int turns = Turns, int firstChat = 0)
    {
        var system = string.Concat(Enumerable.Range(0, 60).Select(i => $"Rule {i} applies to every answer. "));
        var histories = Enumerable.Range(firstChat, chats - firstChat).ToDictionary(c => c, _ => new List<object> { new { role = "system", content = system } });
        var results = new List<(int, int, int, int)>();
        for (var turn = 0; turn < turns; turn++)
        {
            foreach (var (chat, history) in histories)
            {
                history.Add(new { role = "user", content = string.Concat(Enumerable.Range(0, 12).Select(i => $"Guest {chat} asks question {turn}.{i}? ")) });
                var (status, body, _) = await server.Client.PostJsonAsync("/v1/chat/completions",
                    JsonSerializer.Serialize(new { model = Model, messages = history, max_tokens = 6, temperature = 0 }));
                Assert.True(status == HttpStatusCode.OK, body.ToString());
                var usage = body.GetProperty("usage");
                history.Add(new { role = "assistant", content = body.GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString() });
                results.Add((chat, turn, usage.GetProperty("prompt_tokens").GetInt32(), usage.GetProperty("prompt_tokens_details").GetProperty("cached_tokens").GetInt32()));
            }
        }

        return results;
    }

    private static async Task<JsonElement> EngineStatisticsAsync(MaasTestServer server)
    {
        var (_, engines) = await server.Client.GetJsonAsync("/api/v1/llm/engines");
        return engines.EnumerateArray().Single(e => e.GetProperty("model").GetString() == Model).GetProperty("statistics").Clone();
    }

    private static async Task<JsonElement> LoadedMemoryAsync(MaasTestServer server)
    {
        var (_, list) = await server.Client.GetJsonAsync("/api/v1/loaded-models");
        return list.GetProperty("models").EnumerateArray().Single(m => m.GetProperty("model").GetString() == Model).GetProperty("memory").Clone();
    }

    private static double Sample(string text, string series)
    {
        var line = text.Split('\n').SingleOrDefault(l => l.StartsWith(series + " ", StringComparison.Ordinal));
        Assert.True(line is not null, $"no {series} in\n{text}");
        return double.Parse(line[(series.Length + 1)..], CultureInfo.InvariantCulture);
    }
}
