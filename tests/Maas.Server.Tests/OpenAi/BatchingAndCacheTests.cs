using System.Text;
using System.Text.Json;
using OpenAI.Chat;

namespace Maas.Server.Tests.OpenAi;

/// <summary>Continuous batching and the prefix cache, shown by the engine's statistics and the usage the client gets.</summary>
[Collection(LlmServerCollection.Name)]
public sealed class BatchingAndCacheTests(LlmServerFixture fixture)
{
    [Fact]
    public async Task Two_concurrent_requests_are_decoded_in_the_same_batches()
    {
        await fixture.PostOkAsync("/v1/completions", """{"model":"gen","prompt":"warm up","max_tokens":1}""");
        var before = await fixture.EngineStatisticsAsync("gen");

        const int tokens = 40;
        var body = $$"""{"model":"gen","max_tokens":{{tokens}},"ignore_eos":true,"prompt":"PROMPT"}""";
        var a = fixture.PostOkAsync("/v1/completions", body.Replace("PROMPT", "first request", StringComparison.Ordinal));
        var b = fixture.PostOkAsync("/v1/completions", body.Replace("PROMPT", "a second, different request", StringComparison.Ordinal));
        await Task.WhenAll(a, b);
        var after = await fixture.EngineStatisticsAsync("gen");

        long Delta(string name) => after.GetProperty(name).GetInt64() - before.GetProperty(name).GetInt64();
        Assert.Equal(2 * tokens, Delta("generated_tokens"));
        // Decoding them one after the other would take about 2 x 40 steps with one sequence each; batched, most
        // steps carry both sequences, so there are far fewer steps than generated tokens.
        Assert.True(Delta("multi_sequence_steps") >= tokens / 2, $"multi-sequence steps: {Delta("multi_sequence_steps")}, steps: {Delta("steps")}");
        Assert.True(Delta("steps") < 2 * tokens - (tokens / 2), $"steps: {Delta("steps")}");
        Assert.True(after.GetProperty("max_sequences_per_step").GetInt32() >= 2);
    }

    [Fact]
    public async Task A_second_request_with_the_same_system_prompt_reuses_the_cached_prefix()
    {
        var system = new SystemChatMessage(string.Join(' ', Enumerable.Range(0, 60).Select(i => $"rule{i} applies")));
        var chat = fixture.OpenAi.GetChatClient("gen");
        ChatCompletion first = await chat.CompleteChatAsync([system, new UserChatMessage("first question")], new ChatCompletionOptions { MaxOutputTokenCount = 2 });
        ChatCompletion second = await chat.CompleteChatAsync([system, new UserChatMessage("another question")], new ChatCompletionOptions { MaxOutputTokenCount = 2 });

        var cached = second.Usage.InputTokenDetails.CachedTokenCount;
        Assert.True(first.Usage.InputTokenCount > 100, $"prompt tokens: {first.Usage.InputTokenCount}");
        // Everything up to the user turn is shared: the system prompt is most of the prompt.
        Assert.True(cached >= first.Usage.InputTokenCount - 30, $"cached {cached} of {second.Usage.InputTokenCount}");
        Assert.True(cached < second.Usage.InputTokenCount);

        var statistics = await fixture.EngineStatisticsAsync("gen");
        Assert.True(statistics.GetProperty("cached_prompt_tokens").GetInt64() >= cached);
    }

    [Fact]
    public async Task A_chat_that_grew_by_one_turn_reuses_the_earlier_turns()
    {
        var chat = fixture.OpenAi.GetChatClient("gen");
        List<ChatMessage> history = [new UserChatMessage(string.Concat(Enumerable.Repeat("tell me more about this. ", 12)))];
        ChatCompletion first = await chat.CompleteChatAsync(history, new ChatCompletionOptions { MaxOutputTokenCount = 3 });
        history.Add(new AssistantChatMessage(first.Content[0].Text));
        history.Add(new UserChatMessage("and then?"));
        ChatCompletion second = await chat.CompleteChatAsync(history, new ChatCompletionOptions { MaxOutputTokenCount = 3 });
        Assert.True(second.Usage.InputTokenDetails.CachedTokenCount >= first.Usage.InputTokenCount - 2,
            $"cached {second.Usage.InputTokenDetails.CachedTokenCount}, first prompt {first.Usage.InputTokenCount}");
    }

    [Fact]
    public async Task A_request_sharing_a_prefix_with_a_running_one_copies_its_kv_into_another_slot()
    {
        var prefix = $"{Guid.NewGuid():N} " + string.Concat(Enumerable.Range(0, 30).Select(i => $"fact {i} holds. "));
        var running = new HttpRequestMessage(HttpMethod.Post, "/v1/completions")
        {
            Content = new StringContent(JsonSerializer.Serialize(new { model = "gen", prompt = prefix + "alpha", max_tokens = 120, ignore_eos = true, stream = true }), Encoding.UTF8, "application/json"),
        };
        using var response = await fixture.Server.Client.SendAsync(running, HttpCompletionOption.ResponseHeadersRead);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
        Assert.StartsWith("data: ", await reader.ReadLineAsync(), StringComparison.Ordinal); // its prompt is in the KV cache now

        var second = await fixture.PostOkAsync("/v1/completions", JsonSerializer.Serialize(new { model = "gen", prompt = prefix + "beta", max_tokens = 2 }));
        var usage = second.GetProperty("usage");
        var cached = usage.GetProperty("prompt_tokens_details").GetProperty("cached_tokens").GetInt32();
        Assert.True(cached >= usage.GetProperty("prompt_tokens").GetInt32() - 4, usage.ToString());
    }

    [Fact]
    public async Task A_client_that_disconnects_frees_its_sequence()
    {
        // A long context, so the generation outlasts the client by far.
        await LlmServerFixture.RegisterAsync(fixture.Server.Client, "gen-long", await File.ReadAllBytesAsync(fixture.GeneratedPath), "gen.gguf",
            new { parallel_sequences = 1, context_size = 4200 });
        await fixture.PostOkAsync("/v1/completions", """{"model":"gen-long","prompt":"warm","max_tokens":1}""");
        var before = await fixture.EngineStatisticsAsync("gen-long");
        using var cancel = new CancellationTokenSource();
        var request = new HttpRequestMessage(HttpMethod.Post, "/v1/completions")
        {
            Content = new StringContent("""{"model":"gen-long","prompt":"go on forever","max_tokens":4000,"ignore_eos":true,"stream":true}""", Encoding.UTF8, "application/json"),
        };
        using (var response = await fixture.Server.Client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancel.Token))
        {
            using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(cancel.Token));
            Assert.StartsWith("data: ", await reader.ReadLineAsync(cancel.Token), StringComparison.Ordinal);
            await cancel.CancelAsync();
        }

        JsonElement after;
        var deadline = DateTime.UtcNow.AddSeconds(20);
        do
        {
            await Task.Delay(50);
            after = await fixture.EngineStatisticsAsync("gen-long");
        }
        while (after.GetProperty("running").GetInt32() > 0 && DateTime.UtcNow < deadline);

        Assert.Equal(0, after.GetProperty("running").GetInt32());
        Assert.Equal(before.GetProperty("cancelled_requests").GetInt64() + 1, after.GetProperty("cancelled_requests").GetInt64());
        Assert.True(after.GetProperty("generated_tokens").GetInt64() - before.GetProperty("generated_tokens").GetInt64() < 4000);
    }
}
