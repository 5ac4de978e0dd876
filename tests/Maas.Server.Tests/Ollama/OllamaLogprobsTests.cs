using System.Net;
using System.Text;
using System.Text.Json;
using Maas.Server.Tests.Support;

namespace Maas.Server.Tests.Ollama;

/// <summary>
/// logprobs and top_logprobs on /api/chat and /api/generate (Ollama's shape: a top-level <c>logprobs</c> array of
/// {token, logprob, bytes, top_logprobs}), and prompt_eval_count with the prompt served from the prefix cache.
/// </summary>
[Collection(OllamaServerCollection.Name)]
public sealed class OllamaLogprobsTests(OllamaServerFixture fixture)
{
    // Greedy, without Ollama's default repeat penalty, so /v1 (which has none) picks the same tokens.
    private const string Greedy = "\"options\": {\"num_predict\": 6, \"temperature\": 0, \"repeat_penalty\": 1}";

    [Fact]
    public async Task Generate_returns_a_logprob_per_token_with_its_top_alternatives()
    {
        var body = await fixture.PostOkAsync("/api/generate",
            $$$"""{"model": "gen", "prompt": "Tell me more.", "stream": false, "logprobs": true, "top_logprobs": 3, {{{Greedy}}}}""");
        var text = body.GetProperty("response").GetString()!;
        var entries = body.GetProperty("logprobs").EnumerateArray().ToList();
        Assert.NotEmpty(entries);
        Assert.InRange(entries.Count, 1, body.GetProperty("eval_count").GetInt32());
        Assert.Equal(text, string.Concat(entries.Select(e => e.GetProperty("token").GetString())));
        foreach (var entry in entries)
        {
            var token = entry.GetProperty("token").GetString()!;
            var logprob = entry.GetProperty("logprob").GetDouble();
            Assert.InRange(logprob, double.MinValue, 0);
            Assert.Equal(Encoding.UTF8.GetBytes(token), entry.GetProperty("bytes").EnumerateArray().Select(b => (byte)b.GetInt32()).ToArray());
            var top = entry.GetProperty("top_logprobs").EnumerateArray().ToList();
            Assert.Equal(3, top.Count);
            var values = top.Select(t => t.GetProperty("logprob").GetDouble()).ToList();
            Assert.Equal(values.OrderByDescending(v => v), values);

            // Greedy: the chosen token is the most likely one.
            Assert.Equal(token, top[0].GetProperty("token").GetString());
            Assert.Equal(logprob, values[0], 5);
        }
    }

    [Fact]
    public async Task A_streamed_chat_carries_each_pieces_logprobs_and_they_match_v1()
    {
        const string Messages = """[{"role": "user", "content": "Say something."}]""";
        using var response = await OllamaServerFixture.PostAsync(fixture.Host.Admin, "/api/chat",
            $$$"""{"model": "gen", "messages": {{{Messages}}}, "logprobs": true, {{{Greedy}}}}""");
        var lines = await OllamaServerFixture.ReadLinesAsync(response);
        var entries = new List<JsonElement>();
        foreach (var line in lines[..^1])
        {
            var content = line.GetProperty("message").GetProperty("content").GetString()!;
            var pieces = line.GetProperty("logprobs").EnumerateArray().ToList();
            Assert.Equal(content, string.Concat(pieces.Select(p => p.GetProperty("token").GetString())));

            // top_logprobs left at 0: the chosen token only.
            Assert.All(pieces, p => Assert.False(p.TryGetProperty("top_logprobs", out _)));
            entries.AddRange(pieces);
        }

        Assert.False(lines[^1].TryGetProperty("logprobs", out _));
        Assert.NotEmpty(entries);

        // The same conversation through /v1 scores the same tokens the same.
        var v1 = JsonDocument.Parse(await (await fixture.Host.Admin.PostAsync("/v1/chat/completions",
            Api.Json($$$"""{"model": "gen", "messages": {{{Messages}}}, "max_tokens": 6, "temperature": 0, "logprobs": true}""")))
            .Content.ReadAsStringAsync()).RootElement;
        var expected = v1.GetProperty("choices")[0].GetProperty("logprobs").GetProperty("content").EnumerateArray().ToList();
        Assert.Equal(expected.Select(e => e.GetProperty("token").GetString()), entries.Select(e => e.GetProperty("token").GetString()));
        Assert.Equal(expected.Select(e => e.GetProperty("logprob").GetDouble()), entries.Select(e => e.GetProperty("logprob").GetDouble()));
    }

    [Fact]
    public async Task Without_logprobs_there_are_none_and_a_bad_top_logprobs_is_400()
    {
        var plain = await fixture.PostOkAsync("/api/generate", $$$"""{"model": "gen", "prompt": "Hi", "stream": false, {{{Greedy}}}}""");
        Assert.False(plain.TryGetProperty("logprobs", out _));

        // As Ollama: top_logprobs applies only with logprobs true.
        var ignored = await fixture.PostOkAsync("/api/generate", $$$"""{"model": "gen", "prompt": "Hi", "stream": false, "top_logprobs": 2, {{{Greedy}}}}""");
        Assert.False(ignored.TryGetProperty("logprobs", out _));

        foreach (var value in new[] { "21", "-1", "2.5", "\"3\"" })
        {
            using var response = await OllamaServerFixture.PostAsync(fixture.Host.Admin, "/api/chat",
                $$$"""{"model": "gen", "messages": [], "logprobs": true, "top_logprobs": {{{value}}}}""");
            Assert.Equal("top_logprobs must be between 0 and 20", await OllamaServerFixture.ErrorAsync(response, HttpStatusCode.BadRequest));
        }
    }

    [Fact]
    public async Task Prompt_eval_count_counts_the_whole_prompt_when_the_prefix_cache_serves_it()
    {
        const string Messages = """[{"role": "system", "content": "You answer in one short sentence about the weather."}, {"role": "user", "content": "And tomorrow?"}]""";
        var request = $$$"""{"model": "gen", "messages": {{{Messages}}}, "stream": false, "options": {"num_predict": 2}}""";
        var first = (await fixture.PostOkAsync("/api/chat", request)).GetProperty("prompt_eval_count").GetInt32();
        var second = (await fixture.PostOkAsync("/api/chat", request)).GetProperty("prompt_eval_count").GetInt32();

        // The same prompt again comes from the prefix cache (/v1 says how much of it), and Ollama still counts all of it.
        var v1 = JsonDocument.Parse(await (await fixture.Host.Admin.PostAsync("/v1/chat/completions",
            Api.Json($$$"""{"model": "gen", "messages": {{{Messages}}}, "max_tokens": 2}""")))
            .Content.ReadAsStringAsync()).RootElement.GetProperty("usage");
        Assert.True(v1.GetProperty("prompt_tokens_details").GetProperty("cached_tokens").GetInt32() > 0, $"the prompt was not served from the cache: {v1}");
        Assert.Equal(v1.GetProperty("prompt_tokens").GetInt32(), first);
        Assert.Equal(first, second);
    }
}
