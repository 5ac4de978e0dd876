using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using Maas.Core.Llm;
using Maas.Runtimes.Llama;
using Microsoft.Extensions.DependencyInjection;

namespace Maas.Server.Tests.Ollama;

/// <summary>/api/chat and /api/generate: NDJSON streams line by line, whole answers, options, format, embeddings.</summary>
[Collection(OllamaServerCollection.Name)]
public sealed class OllamaGenerationTests(OllamaServerFixture fixture)
{
    // Greedy and without a repeat penalty, so the same tokens give the same answer here and on /v1/completions.
    private const string GreedyOptions = "\"options\": {\"num_predict\": 8, \"temperature\": 0, \"repeat_penalty\": 1}";

    private const string Hello = """[{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Say something."}]""";

    [Fact]
    public async Task Chat_streams_ndjson_lines_and_ends_with_counts_and_timings()
    {
        // stream is left out: Ollama streams by default.
        using var response = await OllamaServerFixture.PostAsync(fixture.Host.Admin, "/api/chat",
            $$$"""{"model": "gen", "messages": {{{Hello}}}, "options": {"num_predict": 8, "temperature": 0}}""");
        var lines = await OllamaServerFixture.ReadLinesAsync(response);
        Assert.True(lines.Count >= 3, $"expected several lines, got {lines.Count}");
        var text = new StringBuilder();
        for (var i = 0; i < lines.Count; i++)
        {
            var line = lines[i];
            var last = i == lines.Count - 1;
            Assert.Equal("gen", line.GetProperty("model").GetString());
            AssertTimestamp(line.GetProperty("created_at").GetString()!);
            var message = line.GetProperty("message");
            Assert.Equal("assistant", message.GetProperty("role").GetString());
            text.Append(message.GetProperty("content").GetString());
            Assert.Equal(last, line.GetProperty("done").GetBoolean());
            if (!last)
            {
                Assert.False(line.TryGetProperty("done_reason", out _));
                Assert.False(line.TryGetProperty("eval_count", out _));
                Assert.NotEmpty(message.GetProperty("content").GetString()!);
            }
        }

        var end = lines[^1];
        Assert.Equal("", end.GetProperty("message").GetProperty("content").GetString());
        Assert.Contains(end.GetProperty("done_reason").GetString(), new[] { "stop", "length" });
        var evalCount = end.GetProperty("eval_count").GetInt64();
        Assert.InRange(evalCount, 1, 8);
        Assert.True(end.GetProperty("prompt_eval_count").GetInt64() > 5);
        var total = end.GetProperty("total_duration").GetInt64();
        foreach (var name in new[] { "load_duration", "prompt_eval_duration", "eval_duration" })
        {
            Assert.InRange(end.GetProperty(name).GetInt64(), 0, total);
        }

        Assert.True(total > 0);
        Assert.NotEmpty(text.ToString());
    }

    [Fact]
    public async Task Chat_without_streaming_is_one_object_and_a_seed_repeats_the_answer_streamed_or_not()
    {
        var body = $$$"""{"model": "gen", "messages": {{{Hello}}}, "stream": false, "options": {"num_predict": 12, "temperature": 1, "seed": 4242}}""";
        var a = await fixture.PostOkAsync("/api/chat", body);
        var b = await fixture.PostOkAsync("/api/chat", body);
        Assert.True(a.GetProperty("done").GetBoolean());
        Assert.Equal("assistant", a.GetProperty("message").GetProperty("role").GetString());
        var text = a.GetProperty("message").GetProperty("content").GetString()!;
        Assert.NotEmpty(text);
        Assert.Equal(text, b.GetProperty("message").GetProperty("content").GetString());
        Assert.InRange(a.GetProperty("eval_count").GetInt64(), 1, 12);
        foreach (var name in new[] { "total_duration", "load_duration", "prompt_eval_count", "prompt_eval_duration", "eval_duration", "done_reason", "created_at" })
        {
            Assert.True(a.TryGetProperty(name, out _), $"no {name} in {a}");
        }

        // The same seed streamed gives the same text in pieces.
        using var response = await OllamaServerFixture.PostAsync(fixture.Host.Admin, "/api/chat", body.Replace("\"stream\": false", "\"stream\": true", StringComparison.Ordinal));
        var lines = await OllamaServerFixture.ReadLinesAsync(response);
        Assert.Equal(text, string.Concat(lines.Select(l => l.GetProperty("message").GetProperty("content").GetString())));
    }

    [Fact]
    public async Task Num_predict_bounds_the_answer_and_a_stop_string_cuts_it()
    {
        var bounded = await fixture.PostOkAsync("/api/generate",
            """{"model": "gen", "prompt": "Count on.", "stream": false, "options": {"num_predict": 3, "temperature": 0.9, "seed": 1}}""");
        var count = bounded.GetProperty("eval_count").GetInt64();
        Assert.InRange(count, 1, 3);
        if (bounded.GetProperty("done_reason").GetString() == "length")
        {
            Assert.Equal(3, count);
        }

        const string Greedy = """{"model": "gen", "prompt": "Tell me more.", "stream": false, "options": {"num_predict": 24, "temperature": 0, "repeat_penalty": 1%STOP%}}""";
        var full = (await fixture.PostOkAsync("/api/generate", Greedy.Replace("%STOP%", "", StringComparison.Ordinal))).GetProperty("response").GetString()!;
        Assert.True(full.Length >= 6, $"the greedy answer is too short to cut: '{full}'");
        var stop = full.Substring(full.Length / 2, 2);
        var expected = full[..full.IndexOf(stop, StringComparison.Ordinal)];
        var cut = await fixture.PostOkAsync("/api/generate", Greedy.Replace("%STOP%", $", \"stop\": [{JsonSerializer.Serialize(stop)}]", StringComparison.Ordinal));
        Assert.Equal(expected, cut.GetProperty("response").GetString());
        Assert.Equal("stop", cut.GetProperty("done_reason").GetString());
    }

    [Fact]
    public async Task Generate_streams_response_pieces_and_takes_system_and_raw_prompts()
    {
        using var response = await OllamaServerFixture.PostAsync(fixture.Host.Admin, "/api/generate",
            """{"model": "gen", "prompt": "Why is the sky blue?", "system": "Answer briefly.", "options": {"num_predict": 6}}""");
        var lines = await OllamaServerFixture.ReadLinesAsync(response);
        Assert.All(lines[..^1], l =>
        {
            Assert.False(l.GetProperty("done").GetBoolean());
            Assert.NotEmpty(l.GetProperty("response").GetString()!);
            Assert.False(l.TryGetProperty("message", out _));
        });
        Assert.True(lines[^1].GetProperty("done").GetBoolean());
        Assert.InRange(lines[^1].GetProperty("eval_count").GetInt64(), 1, 6);

        // raw: the prompt as written, no template around it, so it is shorter than the templated one.
        var templated = await fixture.PostOkAsync("/api/generate", """{"model": "gen", "prompt": "Hi", "stream": false, "options": {"num_predict": 2}}""");
        var raw = await fixture.PostOkAsync("/api/generate", """{"model": "gen", "prompt": "Hi", "raw": true, "stream": false, "options": {"num_predict": 2}}""");
        Assert.True(raw.GetProperty("prompt_eval_count").GetInt64() < templated.GetProperty("prompt_eval_count").GetInt64(), $"raw {raw}, templated {templated}");
    }

    [Fact]
    public async Task No_messages_or_an_empty_prompt_only_loads_the_model()
    {
        var chat = await fixture.PostOkAsync("/api/chat", """{"model": "gen", "messages": []}""");
        Assert.Equal("load", chat.GetProperty("done_reason").GetString());
        Assert.True(chat.GetProperty("done").GetBoolean());
        var generate = await fixture.PostOkAsync("/api/generate", """{"model": "gen"}""");
        Assert.Equal("load", generate.GetProperty("done_reason").GetString());
        Assert.Equal("", generate.GetProperty("response").GetString());
    }

    [Fact]
    public async Task Format_json_constrains_the_answer_to_a_json_object()
    {
        var body = await fixture.PostOkAsync("/api/chat", """{"model": "gen", "format": "json", "stream": false, "messages": [{"role": "user", "content": "JSON please"}],""" +
            """ "options": {"num_predict": 48, "temperature": 0.5, "seed": 3}}""");
        var content = body.GetProperty("message").GetProperty("content").GetString()!;
        Assert.StartsWith("{", content.TrimStart(), StringComparison.Ordinal);
        if (body.GetProperty("done_reason").GetString() == "stop")
        {
            Assert.Equal(JsonValueKind.Object, JsonDocument.Parse(content).RootElement.ValueKind);
        }

        var schema = await fixture.PostOkAsync("/api/chat", """{"model": "gen", "stream": false, "messages": [{"role": "user", "content": "a flag"}], "format": {"type":""" +
            """ "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]}, "options": {"num_predict": 32, "temperature": 0}}""");
        var constrained = schema.GetProperty("message").GetProperty("content").GetString()!;
        Assert.StartsWith("{", constrained.TrimStart(), StringComparison.Ordinal);
        if (schema.GetProperty("done_reason").GetString() == "stop")
        {
            var answer = JsonDocument.Parse(constrained).RootElement;
            Assert.Contains(answer.GetProperty("ok").ValueKind, new[] { JsonValueKind.True, JsonValueKind.False });
        }
    }

    [Fact]
    public async Task Embed_returns_normalised_vectors_per_input_and_the_older_route_one_vector()
    {
        var body = await fixture.PostOkAsync("/api/embed", """{"model": "gen", "input": ["first text", "second text"]}""");
        Assert.Equal("gen", body.GetProperty("model").GetString());
        var embeddings = body.GetProperty("embeddings").EnumerateArray().ToList();
        Assert.Equal(2, embeddings.Count);
        var width = embeddings[0].GetArrayLength();
        Assert.True(width > 0);
        foreach (var vector in embeddings)
        {
            Assert.Equal(width, vector.GetArrayLength());
            var norm = Math.Sqrt(vector.EnumerateArray().Sum(v => v.GetDouble() * v.GetDouble()));
            Assert.InRange(norm, 0.99, 1.01);
        }

        Assert.True(body.GetProperty("prompt_eval_count").GetInt64() >= 4);
        Assert.True(body.GetProperty("total_duration").GetInt64() > 0);

        var single = await fixture.PostOkAsync("/api/embed", """{"model": "gen:stable", "input": "just one"}""");
        Assert.Single(single.GetProperty("embeddings").EnumerateArray());

        var legacy = await fixture.PostOkAsync("/api/embeddings", """{"model": "gen", "prompt": "first text"}""");
        Assert.Equal(width, legacy.GetProperty("embedding").GetArrayLength());
        Assert.Single(legacy.EnumerateObject());

        // An empty string is no input, as in Ollama: the model is loaded and no vector returned; an empty item of a list is refused.
        var load = await fixture.PostOkAsync("/api/embed", """{"model": "gen", "input": ""}""");
        Assert.Empty(load.GetProperty("embeddings").EnumerateArray());
        using var refused = await OllamaServerFixture.PostAsync(fixture.Host.Admin, "/api/embed", """{"model": "gen", "input": ["a", ""]}""");
        Assert.Equal(System.Net.HttpStatusCode.BadRequest, refused.StatusCode);
    }

    [Fact]
    public async Task Generate_returns_the_templated_prompt_then_the_answer_as_context_streamed_or_not()
    {
        using var model = LlamaModel.Load(fixture.GeneratedPath(1));
        var tokenizer = model.Tokenizer;
        var body = $$"""{"model": "gen:stable", "prompt": "Hi there", "stream": false, {{GreedyOptions}}}""";
        var whole = await fixture.PostOkAsync("/api/generate", body);
        var context = Context(whole);
        var prompt = Turn(tokenizer, "Hi there");
        var answer = whole.GetProperty("response").GetString()!;
        Assert.NotEmpty(answer);
        Assert.Equal(prompt, context[..prompt.Length]);
        Assert.Equal(answer, tokenizer.Detokenize(context.AsSpan(prompt.Length)));
        Assert.Equal(ChatMlFormat.Format([new ChatMessage("user", "Hi there")]) + answer, tokenizer.Detokenize(context, removeSpecial: true, unparseSpecial: true));
        Assert.Equal(whole.GetProperty("eval_count").GetInt32(), context.Length - prompt.Length);
        Assert.Equal(prompt.Length, whole.GetProperty("prompt_eval_count").GetInt32());

        // Streamed: only the last line carries it, the same ids.
        using var response = await OllamaServerFixture.PostAsync(fixture.Host.Admin, "/api/generate",
            body.Replace("\"stream\": false", "\"stream\": true", StringComparison.Ordinal));
        var lines = await OllamaServerFixture.ReadLinesAsync(response);
        Assert.All(lines[..^1], l => Assert.False(l.TryGetProperty("context", out _)));
        Assert.Equal(answer, string.Concat(lines.Select(l => l.GetProperty("response").GetString())));
        Assert.Equal(context, Context(lines[^1]));

        // A stop string cut from the answer is cut from the context too.
        Assert.True(answer.Length >= 4, $"the greedy answer is too short to cut: '{answer}'");
        var stop = answer.Substring(answer.Length / 2, 2);
        var cut = await fixture.PostOkAsync("/api/generate",
            body.Replace("\"repeat_penalty\": 1", $"\"repeat_penalty\": 1, \"stop\": [{JsonSerializer.Serialize(stop)}]", StringComparison.Ordinal));
        var shorter = cut.GetProperty("response").GetString()!;
        Assert.Equal(answer[..answer.IndexOf(stop, StringComparison.Ordinal)], shorter);
        var cutContext = Context(cut);
        Assert.Equal(prompt, cutContext[..prompt.Length]);
        Assert.Equal(shorter, tokenizer.Detokenize(cutContext.AsSpan(prompt.Length)));

        // A raw prompt returns none (as Ollama), nor does /api/chat.
        var raw = await fixture.PostOkAsync("/api/generate", $$"""{"model": "gen:stable", "prompt": "Hi", "raw": true, "stream": false, {{GreedyOptions}}}""");
        Assert.False(raw.TryGetProperty("context", out _));
        var chat = await fixture.PostOkAsync("/api/chat", $$"""{"model": "gen:stable", "messages": [{"role": "user", "content": "Hi"}], "stream": false, {{GreedyOptions}}}""");
        Assert.False(chat.TryGetProperty("context", out _));
    }

    [Fact]
    public async Task A_context_goes_on_from_its_tokens_and_reuses_their_cached_prefix()
    {
        using var model = LlamaModel.Load(fixture.GeneratedPath(1));
        var tokenizer = model.Tokenizer;
        var context = Context(await fixture.PostOkAsync("/api/generate", $$"""{"model": "gen:stable", "prompt": "Hi there", "stream": false, {{GreedyOptions}}}"""));
        var turn = Turn(tokenizer, "And then?");
        int[] next = tokenizer.AddsBos && turn[0] == tokenizer.Bos ? turn[1..] : turn;
        int[] prompt = [.. context, .. next];

        var engine = fixture.Host.Server.Services.GetRequiredService<LlmEngineManager>().Loaded().Single(e => e.Name == OllamaServerFixture.Model && e.Version == 1).Engine;
        var cachedBefore = engine.GetStatistics().CachedPromptTokens;
        var body = $$"""{"model": "gen:stable", "prompt": "And then?", "context": {{JsonSerializer.Serialize(context)}}, "stream": false, {{GreedyOptions}}}""";
        var second = await fixture.PostOkAsync("/api/generate", body);
        var cached = engine.GetStatistics().CachedPromptTokens - cachedBefore;

        // The whole conversation was the prompt, and the earlier turn's tokens came from the prefix cache.
        Assert.Equal(prompt.Length, second.GetProperty("prompt_eval_count").GetInt32());
        Assert.InRange(cached, context.Length - 1, prompt.Length - 1);
        var answer = second.GetProperty("response").GetString()!;
        var returned = Context(second);
        Assert.Equal(prompt, returned[..prompt.Length]);
        Assert.Equal(answer, tokenizer.Detokenize(returned.AsSpan(prompt.Length)));

        // The same tokens as one prompt give the same greedy answer.
        var completion = await fixture.PostOkAsync("/v1/completions", JsonSerializer.Serialize(new { model = "gen:stable", prompt, max_tokens = 8, temperature = 0 }));
        Assert.Equal(answer, completion.GetProperty("choices")[0].GetProperty("text").GetString());

        // Streamed: the same answer and context.
        using var response = await OllamaServerFixture.PostAsync(fixture.Host.Admin, "/api/generate",
            body.Replace("\"stream\": false", "\"stream\": true", StringComparison.Ordinal));
        var lines = await OllamaServerFixture.ReadLinesAsync(response);
        Assert.Equal(answer, string.Concat(lines.Select(l => l.GetProperty("response").GetString())));
        Assert.Equal(returned, Context(lines[^1]));
        Assert.Equal(prompt.Length, lines[^1].GetProperty("prompt_eval_count").GetInt32());
    }

    [Fact]
    public async Task A_context_of_bad_ids_or_past_the_window_is_400_in_ollamas_shape()
    {
        int vocabulary;
        using (var model = LlamaModel.Load(fixture.GeneratedPath(1)))
        {
            vocabulary = model.Tokenizer.Count;
        }

        async Task<string> RefusedAsync(string context, string extra = "")
        {
            using var response = await OllamaServerFixture.PostAsync(fixture.Host.Admin, "/api/generate",
                $$$"""{"model": "gen:stable", "prompt": "Hi", "context": {{{context}}}{{{extra}}}, "options": {"num_predict": 2}}""");
            return await OllamaServerFixture.ErrorAsync(response, HttpStatusCode.BadRequest);
        }

        Assert.Contains("context[1]", await RefusedAsync("[1, -1]"), StringComparison.Ordinal);
        var past = await RefusedAsync($"[1, {vocabulary}]");
        Assert.Contains("context[1]", past, StringComparison.Ordinal);
        Assert.Contains($"{vocabulary} tokens", past, StringComparison.Ordinal);
        Assert.Contains("context[0]", await RefusedAsync("[1.5]"), StringComparison.Ordinal);
        Assert.Contains("context[2]", await RefusedAsync("""[1, 2, "3"]"""), StringComparison.Ordinal);
        Assert.Contains("context[0]", await RefusedAsync("[null]"), StringComparison.Ordinal);
        Assert.Contains("context[0]", await RefusedAsync("[4294967297]"), StringComparison.Ordinal);
        Assert.Contains("'context'", await RefusedAsync("\"1 2 3\""), StringComparison.Ordinal);
        Assert.Contains("raw", await RefusedAsync("[1, 2]", ", \"raw\": true"), StringComparison.Ordinal);

        // Past the context window: the error a prompt too long gets, counting the context's tokens.
        var tooLong = await RefusedAsync(JsonSerializer.Serialize(Enumerable.Repeat(1, 600)));
        Assert.StartsWith("This model's maximum context length is 512 tokens", tooLong, StringComparison.Ordinal);
        Assert.Contains("in the prompt", tooLong, StringComparison.Ordinal);
    }

    private static void AssertTimestamp(string text)
    {
        Assert.EndsWith("Z", text, StringComparison.Ordinal);
        var at = DateTimeOffset.Parse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal);
        Assert.InRange(at, DateTimeOffset.UtcNow.AddMinutes(-10), DateTimeOffset.UtcNow.AddMinutes(1));
    }

    private static int[] Context(JsonElement response) => [.. response.GetProperty("context").EnumerateArray().Select(t => t.GetInt32())];

    // The prompt /api/generate renders for a user turn: ChatML (the generated model has no template of its own), BOS first.
    private static int[] Turn(LlamaTokenizer tokenizer, string prompt) =>
        tokenizer.Tokenize(ChatMlFormat.Format([new ChatMessage("user", prompt)]), addSpecial: true, parseSpecial: true);
}
