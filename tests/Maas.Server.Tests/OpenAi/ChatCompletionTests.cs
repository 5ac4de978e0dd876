#pragma warning disable OPENAI001 // ChatCompletionOptions.Seed is marked as evaluation-only in the client; the API has it.
using System.Net;
using System.Text;
using System.Text.Json;
using Maas.Testing;
using OpenAI.Chat;

namespace Maas.Server.Tests.OpenAi;

/// <summary>Chat completions through the official OpenAI .NET client: whole answers, streams, several streams at once, n, logprobs.</summary>
[Collection(LlmServerCollection.Name)]
public sealed class ChatCompletionTests(LlmServerFixture fixture)
{
    private const string Tiny = LlmServerFixture.TinyFile;

    [SharedModelFact(Tiny)]
    public async Task Chat_completion_answers_with_text_finish_reason_and_usage()
    {
        var chat = fixture.OpenAi.GetChatClient("tiny");
        ChatCompletion completion = await chat.CompleteChatAsync(
            [new SystemChatMessage("You are terse."), new UserChatMessage("Say something.")],
            new ChatCompletionOptions { MaxOutputTokenCount = 8, Temperature = 0.7f, Seed = 3 });

        Assert.Equal(ChatMessageRole.Assistant, completion.Role);
        Assert.Contains(completion.FinishReason, new[] { ChatFinishReason.Length, ChatFinishReason.Stop });
        Assert.InRange(completion.Usage.OutputTokenCount, 1, 8);
        if (completion.FinishReason == ChatFinishReason.Length)
        {
            Assert.Equal(8, completion.Usage.OutputTokenCount);
        }

        Assert.True(completion.Usage.InputTokenCount > 5);
        Assert.Equal(completion.Usage.InputTokenCount + completion.Usage.OutputTokenCount, completion.Usage.TotalTokenCount);
        Assert.NotNull(completion.Usage.InputTokenDetails);
        Assert.StartsWith("maas-tiny-v", completion.SystemFingerprint, StringComparison.Ordinal);
        Assert.Equal("tiny", completion.Model);
    }

    [SharedModelFact(Tiny)]
    public async Task Same_seed_gives_the_same_answer()
    {
        var chat = fixture.OpenAi.GetChatClient("tiny");
        var options = new ChatCompletionOptions { MaxOutputTokenCount = 12, Temperature = 1f, Seed = 1234 };
        ChatCompletion a = await chat.CompleteChatAsync([new UserChatMessage("Tell me a story.")], options);
        ChatCompletion b = await chat.CompleteChatAsync([new UserChatMessage("Tell me a story.")], options);
        Assert.Equal(a.Content[0].Text, b.Content[0].Text);
    }

    [SharedModelFact(Tiny)]
    public async Task Streaming_chat_sends_tokens_as_they_come_then_usage()
    {
        var chat = fixture.OpenAi.GetChatClient("tiny");
        var text = new StringBuilder();
        var updates = 0;
        ChatFinishReason? finish = null;
        ChatTokenUsage? usage = null;
        await foreach (var update in chat.CompleteChatStreamingAsync(
            [new UserChatMessage("Count to ten.")],
            new ChatCompletionOptions { MaxOutputTokenCount = 10, Temperature = 0 }))
        {
            foreach (var part in update.ContentUpdate)
            {
                text.Append(part.Text);
                updates++;
            }

            finish ??= update.FinishReason;
            usage ??= update.Usage;
        }

        Assert.True(updates >= 2, $"expected the answer in several chunks, got {updates}");
        var metrics = await fixture.Server.Client.GetStringAsync("/metrics");
        foreach (var name in new[] { "maas_llm_time_to_first_token", "maas_llm_inter_token_latency", "maas_llm_generated_tokens", "maas_llm_kv_cache_fill",
            "maas_llm_running_sequences" })
        {
            Assert.Contains(name, metrics, StringComparison.Ordinal);
        }

        Assert.NotNull(finish);
        Assert.NotNull(usage);
        Assert.InRange(usage.OutputTokenCount, 1, 10);
        Assert.True(text.Length > 0);
    }

    [SharedModelFact(Tiny)]
    public async Task Raw_stream_follows_the_openai_chunk_format_and_ends_with_done()
    {
        using var response = await fixture.Server.Client.PostAsync("/v1/chat/completions", new StringContent(
            """{"model":"tiny","stream":true,"stream_options":{"include_usage":true},"max_tokens":6,"ignore_eos":true,"messages":[{"role":"user","content":"hi"}]}""",
            Encoding.UTF8,
            "application/json"));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var events = await LlmServerFixture.ReadEventsAsync(response);
        var first = events[0];
        Assert.Equal("chat.completion.chunk", first.GetProperty("object").GetString());
        Assert.Equal("assistant", first.GetProperty("choices")[0].GetProperty("delta").GetProperty("role").GetString());
        var ids = events.Select(e => e.GetProperty("id").GetString()).Distinct().ToList();
        Assert.Single(ids);
        Assert.StartsWith("chatcmpl-", ids[0], StringComparison.Ordinal);

        var last = events[^1];
        Assert.Equal(0, last.GetProperty("choices").GetArrayLength());
        var usage = last.GetProperty("usage");
        Assert.Equal(6, usage.GetProperty("completion_tokens").GetInt32());
        Assert.True(usage.GetProperty("prompt_tokens_details").GetProperty("cached_tokens").GetInt32() >= 0);
        var finish = events[^2].GetProperty("choices")[0];
        Assert.Equal("length", finish.GetProperty("finish_reason").GetString());
        Assert.All(events.Take(events.Count - 1), e => Assert.Equal(JsonValueKind.Null, e.GetProperty("usage").ValueKind));
    }

    [SharedModelFact(Tiny)]
    public async Task Several_concurrent_streams_all_complete()
    {
        var chat = fixture.OpenAi.GetChatClient("tiny");
        var streams = Enumerable.Range(0, 6).Select(async i =>
        {
            var tokens = 0;
            ChatFinishReason? finish = null;
            await foreach (var update in chat.CompleteChatStreamingAsync(
                [new UserChatMessage($"Stream number {i}, go.")],
                new ChatCompletionOptions { MaxOutputTokenCount = 12, Seed = i }))
            {
                tokens += update.ContentUpdate.Count;
                finish ??= update.FinishReason;
            }

            return (tokens, finish);
        }).ToArray();
        var results = await Task.WhenAll(streams);
        Assert.All(results, r => Assert.NotNull(r.finish));
        Assert.All(results, r => Assert.True(r.tokens > 0 || r.finish == ChatFinishReason.Stop));
    }

    [SharedModelFact(Tiny)]
    public async Task N_choices_are_returned_with_their_indexes()
    {
        var body = await fixture.PostOkAsync("/v1/chat/completions",
            """{"model":"tiny","n":3,"max_tokens":4,"ignore_eos":true,"seed":9,"messages":[{"role":"user","content":"hello"}]}""");
        var choices = body.GetProperty("choices");
        Assert.Equal(3, choices.GetArrayLength());
        Assert.Equal([0, 1, 2], choices.EnumerateArray().Select(c => c.GetProperty("index").GetInt32()));
        Assert.Equal(12, body.GetProperty("usage").GetProperty("completion_tokens").GetInt32());
    }

    [SharedModelFact(Tiny)]
    public async Task Logprobs_come_with_the_most_likely_alternatives()
    {
        var chat = fixture.OpenAi.GetChatClient("tiny");
        ChatCompletion completion = await chat.CompleteChatAsync(
            [new UserChatMessage("Pick a word.")],
            new ChatCompletionOptions { MaxOutputTokenCount = 5, Temperature = 0, IncludeLogProbabilities = true, TopLogProbabilityCount = 3 });

        var tokens = completion.ContentTokenLogProbabilities;
        Assert.Equal(completion.Usage.OutputTokenCount, tokens.Count);
        foreach (var token in tokens)
        {
            Assert.True(token.LogProbability <= 0);
            Assert.Equal(3, token.TopLogProbabilities.Count);
            var tops = token.TopLogProbabilities.Select(t => t.LogProbability).ToList();
            Assert.Equal(tops.OrderDescending(), tops);
            // Greedy: the chosen token is the most likely one.
            Assert.Equal(token.Token, token.TopLogProbabilities[0].Token);
            Assert.Equal(token.LogProbability, token.TopLogProbabilities[0].LogProbability, 4);
        }

        var bytes = tokens.SelectMany(t => t.Utf8Bytes?.ToArray() ?? []).ToArray();
        Assert.Equal(completion.Content[0].Text, Encoding.UTF8.GetString(bytes));
    }

    [Fact]
    public async Task A_model_with_its_own_template_is_formatted_with_it()
    {
        var chat = fixture.OpenAi.GetChatClient("gen");
        ChatCompletion completion = await chat.CompleteChatAsync([new UserChatMessage("hi")], new ChatCompletionOptions { MaxOutputTokenCount = 4 });
        Assert.True(completion.Usage.InputTokenCount > 0);
        var engines = await fixture.Server.Client.GetStringAsync("/api/v1/llm/engines");
        using var doc = JsonDocument.Parse(engines);
        var gen = doc.RootElement.EnumerateArray().First(e => e.GetProperty("model").GetString() == "gen");
        Assert.Equal("gguf", gen.GetProperty("info").GetProperty("chat_format").GetString());
        Assert.Equal("per-slot", gen.GetProperty("info").GetProperty("kv_cache").GetString()); // Maas:Llm:UnifiedKvCache is off by default
        Assert.Equal("staggered", gen.GetProperty("info").GetProperty("prompt_admission").GetString()); // auto staggers with either KV layout
    }
}
