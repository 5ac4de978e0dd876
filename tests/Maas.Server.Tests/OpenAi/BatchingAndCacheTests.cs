using System.Text;
using System.Text.Json;
using Maas.Testing;
using OpenAI.Chat;

namespace Maas.Server.Tests.OpenAi;

/// <summary>Continuous batching and the prefix cache, shown by the engine's statistics and the usage the client gets.</summary>
[Collection(LlmServerCollection.Name)]
public sealed class BatchingAndCacheTests(LlmServerFixture fixture)
{
    [Fact]
    public async Task Two_concurrent_requests_are_decoded_in_the_same_batches()
    {
        // A long stream runs; a second request joins it without waiting, and every step of the second one's life
        // (its prompt and each of its tokens) is the same llama_decode as a token of the first.
        using var first = await StartLongStreamAsync();
        var before = await fixture.EngineStatisticsAsync(LlmServerFixture.LongModel);
        const int tokens = 40;
        var second = await fixture.PostOkAsync("/v1/completions",
            $$"""{"model":"{{LlmServerFixture.LongModel}}","prompt":"a second request","max_tokens":{{tokens}},"ignore_eos":true}""");
        var after = await fixture.EngineStatisticsAsync(LlmServerFixture.LongModel);

        Assert.Equal(tokens, second.GetProperty("usage").GetProperty("completion_tokens").GetInt32());
        long Delta(string name) => after.GetProperty(name).GetInt64() - before.GetProperty(name).GetInt64();
        Assert.True(Delta("multi_sequence_steps") >= tokens, $"multi-sequence steps: {Delta("multi_sequence_steps")}, steps: {Delta("steps")}");
        Assert.True(after.GetProperty("max_sequences_per_step").GetInt32() >= 2);
        Assert.True(after.GetProperty("sequences_per_step").GetDouble() > 1.0);

        // The same holds for the n choices of one request: they start together and share their steps.
        var beforeN = await fixture.EngineStatisticsAsync("gen");
        await fixture.PostOkAsync("/v1/completions", """{"model":"gen","prompt":"two at once","n":2,"max_tokens":20,"ignore_eos":true}""");
        var afterN = await fixture.EngineStatisticsAsync("gen");
        // Their prompts are decoded one step apart, so the 2 x 20 tokens take 21 steps, 19 or more of them shared.
        Assert.True(afterN.GetProperty("multi_sequence_steps").GetInt64() - beforeN.GetProperty("multi_sequence_steps").GetInt64() >= 19);
        Assert.InRange(afterN.GetProperty("steps").GetInt64() - beforeN.GetProperty("steps").GetInt64(), 20, 21);
    }

    // Starts a stream of thousands of tokens on the long-context model and returns once its first token arrived.
    private async Task<HttpResponseMessage> StartLongStreamAsync()
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "/v1/completions")
        {
            Content = new StringContent($$"""{"model":"{{LlmServerFixture.LongModel}}","prompt":"go on and on","max_tokens":4000,"ignore_eos":true,"stream":true}""",
            Encoding.UTF8, "application/json"),
        };
        var response = await fixture.Server.Client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
        Assert.StartsWith("data: ", await reader.ReadLineAsync(), StringComparison.Ordinal);
        return response;
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

        // The host prompt cache is on by default, and the footprint covers at least the weights and the KV cache.
        Assert.Equal(Maas.Core.Llm.LlmServingOptions.DefaultPromptCacheBytes, statistics.GetProperty("prompt_cache_budget_bytes").GetInt64());
        Assert.InRange(statistics.GetProperty("prompt_cache_bytes").GetInt64(), 0, Maas.Core.Llm.LlmServingOptions.DefaultPromptCacheBytes);
        Assert.True(statistics.GetProperty("memory_bytes").GetInt64() > statistics.GetProperty("prompt_cache_bytes").GetInt64());
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
            Content = new StringContent(JsonSerializer.Serialize(new { model = "gen", prompt = prefix + "alpha", max_tokens = 120, ignore_eos = true, stream = true }),
            Encoding.UTF8, "application/json"),
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
    public async Task A_burst_of_requests_with_one_long_system_prompt_computes_it_once()
    {
        var prefix = $"{Guid.NewGuid():N} " + string.Concat(Enumerable.Range(0, 40).Select(i => $"rule {i} says so. "));
        var before = await fixture.EngineStatisticsAsync("gen");
        var burst = Enumerable.Range(0, 3).Select(i => fixture.PostOkAsync("/v1/completions",
            JsonSerializer.Serialize(new { model = "gen", prompt = prefix + $"question {i}?", max_tokens = 2, ignore_eos = true }))).ToArray();
        var answers = await Task.WhenAll(burst);
        var after = await fixture.EngineStatisticsAsync("gen");

        var prompt = answers.Min(a => a.GetProperty("usage").GetProperty("prompt_tokens").GetInt32());
        var computed = (after.GetProperty("prompt_tokens").GetInt64() - before.GetProperty("prompt_tokens").GetInt64())
            - (after.GetProperty("cached_prompt_tokens").GetInt64() - before.GetProperty("cached_prompt_tokens").GetInt64());
        Assert.True(computed < prompt + 30, $"computed {computed} prompt tokens for 3 prompts of about {prompt} that share all but a few");
        Assert.Equal(2, answers.Count(a => a.GetProperty("usage").GetProperty("prompt_tokens_details").GetProperty("cached_tokens").GetInt32() >= prompt - 10));
    }

    [Fact]
    public async Task A_client_that_disconnects_frees_its_sequence()
    {
        // A long context, so the generation outlasts the client by far (even on a busy host, where noticing the hang-up
        // may take a while).
        const int tokens = LlmServerFixture.LongContextPerSequence - 100;
        await fixture.PostOkAsync("/v1/completions", """{"model":"gen-long","prompt":"warm","max_tokens":1}""");
        var before = await IdleStatisticsAsync();
        using var cancel = new CancellationTokenSource();
        var request = new HttpRequestMessage(HttpMethod.Post, "/v1/completions")
        {
            Content = new StringContent($$"""{"model":"gen-long","prompt":"go on forever","max_tokens":{{tokens}},"ignore_eos":true,"stream":true}""", Encoding.UTF8,
            "application/json"),
        };
        using (var response = await fixture.Server.Client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancel.Token))
        {
            using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(cancel.Token));
            Assert.StartsWith("data: ", await reader.ReadLineAsync(cancel.Token), StringComparison.Ordinal);
            await cancel.CancelAsync();
        }

        var after = await IdleStatisticsAsync();

        Assert.Equal(0, after.GetProperty("running").GetInt32());
        Assert.Equal(before.GetProperty("cancelled_requests").GetInt64() + 1, after.GetProperty("cancelled_requests").GetInt64());
        Assert.True(after.GetProperty("generated_tokens").GetInt64() - before.GetProperty("generated_tokens").GetInt64() < tokens);
    }

    // The long model's statistics once nothing runs on it (an earlier test's hung-up stream may still be ending).
    private Task<JsonElement> IdleStatisticsAsync() =>
        Conditions.ReadUntilAsync(
            () => fixture.EngineStatisticsAsync(LlmServerFixture.LongModel),
            statistics => statistics.GetProperty("running").GetInt32() == 0,
            "nothing runs on the long model",
            show: statistics => statistics.ToString());
}
