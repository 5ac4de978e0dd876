using System.Net;
using System.Text;
using System.Text.Json;

namespace Maas.Server.Tests.OpenAi;

/// <summary>
/// Echo with logprobs on /v1/completions (how evaluation harnesses score text: <c>echo: true, max_tokens: 0,
/// logprobs: 1</c>): the prompt's tokens come first in <c>logprobs</c>, the first without a logprob.
/// </summary>
[Collection(LlmServerCollection.Name)]
public sealed class CompletionPromptLogprobsTests(LlmServerFixture fixture)
{
    private static readonly int[] Prompt = [1, 100, 250, 300, 420, 555, 610, 777];

    [Fact]
    public async Task Echo_with_logprobs_and_max_tokens_0_scores_each_prompt_token_as_generating_it_would()
    {
        var scored = Logprobs(await fixture.PostOkAsync("/v1/completions",
            $$"""{"model":"gen","prompt":[{{string.Join(",", Prompt)}}],"max_tokens":0,"echo":true,"logprobs":1}"""));

        Assert.Equal(Prompt.Length, scored.GetProperty("tokens").GetArrayLength());
        var values = scored.GetProperty("token_logprobs").EnumerateArray().ToArray();
        Assert.Equal(JsonValueKind.Null, values[0].ValueKind);
        Assert.Equal(JsonValueKind.Null, scored.GetProperty("top_logprobs")[0].ValueKind);
        Assert.All(scored.GetProperty("top_logprobs").EnumerateArray().Skip(1), t => Assert.Single(t.EnumerateObject()));
        Assert.Equal(0, scored.GetProperty("text_offset")[0].GetInt32());

        // A separate scoring: the logprob the server reports for generating token k after the first k tokens (made
        // the pick by a logit bias; logprobs are the model's own, before any bias).
        for (var k = 1; k < Prompt.Length; k++)
        {
            var generated = Logprobs(await fixture.PostOkAsync("/v1/completions",
                $$$"""{"model":"gen","prompt":[{{{string.Join(",", Prompt[..k])}}}],"max_tokens":1,"temperature":0,"ignore_eos":true,"logprobs":""" +
                $$$"""0,"logit_bias":{"{{{Prompt[k]}}}":100}}"""));
            Assert.Equal(generated.GetProperty("tokens")[0].GetString(), scored.GetProperty("tokens")[k].GetString());
            Assert.Equal(generated.GetProperty("token_logprobs")[0].GetSingle(), values[k].GetSingle(), 0.02);
        }
    }

    [Fact]
    public async Task Several_prompts_text_or_tokens_each_get_their_prompt_logprobs_then_the_generated_ones()
    {
        var body = await fixture.PostOkAsync("/v1/completions",
            """{"model":"gen","prompt":["Hello there, how are you?","Bye"],"max_tokens":3,"ignore_eos":true,"echo":true,"logprobs":2}""");
        var choices = body.GetProperty("choices").EnumerateArray().ToArray();
        Assert.Equal(2, choices.Length);
        var promptTokens = 0;
        foreach (var (choice, text) in choices.Zip(["Hello there, how are you?", "Bye"]))
        {
            Assert.StartsWith(text, choice.GetProperty("text").GetString(), StringComparison.Ordinal);
            var logprobs = choice.GetProperty("logprobs");
            var count = logprobs.GetProperty("tokens").GetArrayLength() - 3;
            Assert.True(count >= 1, logprobs.ToString());
            promptTokens += count;
            Assert.Equal(JsonValueKind.Null, logprobs.GetProperty("token_logprobs")[0].ValueKind);
            Assert.All(logprobs.GetProperty("token_logprobs").EnumerateArray().Skip(1), l => Assert.True(l.GetSingle() <= 0));
            Assert.All(logprobs.GetProperty("top_logprobs").EnumerateArray().Skip(1), t => Assert.Equal(2, t.EnumerateObject().Count()));

            // Offsets count from the start of the echoed text: the prompt's from 0, the generated ones' from its end.
            var offsets = logprobs.GetProperty("text_offset").EnumerateArray().Select(o => o.GetInt32()).ToArray();
            Assert.Equal(0, offsets[0]);
            Assert.Equal(text.Length, offsets[count]);
            Assert.Equal(offsets[..count].Order(), offsets[..count]);
        }

        Assert.Equal(body.GetProperty("usage").GetProperty("prompt_tokens").GetInt32(), promptTokens);
        Assert.Equal(6, body.GetProperty("usage").GetProperty("completion_tokens").GetInt32());

        // Token-id prompts, several, with n: every choice carries its prompt's logprobs.
        body = await fixture.PostOkAsync("/v1/completions",
            $$"""{"model":"gen","prompt":[[{{string.Join(",", Prompt)}}],[1,42,43]],"n":2,"max_tokens":0,"echo":true,"logprobs":0}""");
        choices = body.GetProperty("choices").EnumerateArray().OrderBy(c => c.GetProperty("index").GetInt32()).ToArray();
        Assert.Equal([Prompt.Length, Prompt.Length, 3, 3], choices.Select(c => c.GetProperty("logprobs").GetProperty("tokens").GetArrayLength()));
        Assert.All(choices, c => Assert.Equal("length", c.GetProperty("finish_reason").GetString()));
        Assert.Equal(
            choices[0].GetProperty("logprobs").GetProperty("token_logprobs").ToString(),
            choices[1].GetProperty("logprobs").GetProperty("token_logprobs").ToString());
        Assert.Equal(Prompt.Length + 3, body.GetProperty("usage").GetProperty("prompt_tokens").GetInt32());
        Assert.Equal(0, body.GetProperty("usage").GetProperty("completion_tokens").GetInt32());
    }

    [Fact]
    public async Task With_n_the_prompt_is_scored_once_and_every_choice_carries_its_logprobs()
    {
        var ids = string.Join(",", Prompt);
        var single = await fixture.PostOkAsync("/v1/completions", $$"""{"model":"gen","prompt":[{{ids}}],"max_tokens":0,"echo":true,"logprobs":1}""");
        var expected = Logprobs(single).GetProperty("token_logprobs").ToString();
        var echoed = single.GetProperty("choices")[0].GetProperty("text").GetString()!;

        // max_tokens 0: one sequence scores the prompt (the engine takes its tokens once, not once per choice), and
        // every choice answers with them.
        var before = (await fixture.EngineStatisticsAsync("gen")).GetProperty("prompt_tokens").GetInt64();
        var body = await fixture.PostOkAsync("/v1/completions", $$"""{"model":"gen","prompt":[{{ids}}],"n":3,"max_tokens":0,"echo":true,"logprobs":1}""");
        var after = (await fixture.EngineStatisticsAsync("gen")).GetProperty("prompt_tokens").GetInt64();
        Assert.Equal(Prompt.Length, after - before);
        var choices = body.GetProperty("choices").EnumerateArray().OrderBy(c => c.GetProperty("index").GetInt32()).ToArray();
        Assert.Equal([0, 1, 2], choices.Select(c => c.GetProperty("index").GetInt32()));
        foreach (var choice in choices)
        {
            Assert.Equal(echoed, choice.GetProperty("text").GetString());
            Assert.Equal(expected, choice.GetProperty("logprobs").GetProperty("token_logprobs").ToString());
            Assert.Equal(Prompt.Length, choice.GetProperty("logprobs").GetProperty("top_logprobs").GetArrayLength());
            Assert.Equal("length", choice.GetProperty("finish_reason").GetString());
        }

        Assert.Equal(Prompt.Length, body.GetProperty("usage").GetProperty("prompt_tokens").GetInt32());
        Assert.Equal(0, body.GetProperty("usage").GetProperty("completion_tokens").GetInt32());

        // Generating: each choice's logprobs start with the prompt's, then hold its own generated tokens.
        body = await fixture.PostOkAsync("/v1/completions", $$"""{"model":"gen","prompt":[{{ids}}],"n":3,"max_tokens":2,"ignore_eos":true,"echo":true,"logprobs":1}""");
        choices = body.GetProperty("choices").EnumerateArray().OrderBy(c => c.GetProperty("index").GetInt32()).ToArray();
        Assert.Equal(3, choices.Length);
        foreach (var choice in choices)
        {
            var logprobs = choice.GetProperty("logprobs");
            Assert.StartsWith(echoed, choice.GetProperty("text").GetString(), StringComparison.Ordinal);
            Assert.Equal(Prompt.Length + 2, logprobs.GetProperty("tokens").GetArrayLength());
            var values = logprobs.GetProperty("token_logprobs").EnumerateArray().ToArray();
            Assert.Equal(expected, "[" + string.Join(",", values[..Prompt.Length].Select(v => v.GetRawText())) + "]");
            Assert.All(values[Prompt.Length..], v => Assert.Equal(JsonValueKind.Number, v.ValueKind));
            Assert.Equal(echoed.Length, logprobs.GetProperty("text_offset")[Prompt.Length].GetInt32());
            Assert.Equal("length", choice.GetProperty("finish_reason").GetString());
        }

        Assert.Equal(6, body.GetProperty("usage").GetProperty("completion_tokens").GetInt32());

        // Streamed, with max_tokens 0 and without: each choice's first chunk carries the echoed prompt and its logprobs.
        foreach (var maxTokens in new[] { 0, 2 })
        {
            using var response = await fixture.Server.Client.PostAsync("/v1/completions", new StringContent(
                $$"""{"model":"gen","prompt":[{{ids}}],"n":3,"max_tokens":{{maxTokens}},"ignore_eos":true,"echo":true,"logprobs":1,"stream":true}""", Encoding.UTF8,
                    "application/json"));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            var byChoice = (await LlmServerFixture.ReadEventsAsync(response))
                .Select(e => e.GetProperty("choices")[0])
                .GroupBy(c => c.GetProperty("index").GetInt32())
                .OrderBy(g => g.Key)
                .ToArray();
            Assert.Equal([0, 1, 2], byChoice.Select(g => g.Key));
            foreach (var chunks in byChoice)
            {
                var head = chunks.First();
                Assert.Equal(echoed, head.GetProperty("text").GetString());
                Assert.Equal(expected, head.GetProperty("logprobs").GetProperty("token_logprobs").ToString());
                Assert.Equal(Prompt.Length + maxTokens, chunks.Sum(c => c.GetProperty("logprobs").GetProperty("tokens").GetArrayLength()));
                Assert.Equal("length", chunks.Last().GetProperty("finish_reason").GetString());
            }
        }

        // A prompt longer than a scoring step (64 tokens): the other choices generate before it is scored, and their
        // tokens wait for its logprobs.
        int[] longPrompt = [1, .. Enumerable.Range(0, 150).Select(i => 900 + (i * 7 % 50))];
        using (var response = await fixture.Server.Client.PostAsync("/v1/completions", new StringContent(
            $$"""{"model":"gen","prompt":[{{string.Join(",", longPrompt)}}],"n":2,"max_tokens":3,"ignore_eos":true,"echo":true,"logprobs":1,"stream":true}""", Encoding.UTF8,
                "application/json")))
        {
            var byChoice = (await LlmServerFixture.ReadEventsAsync(response))
                .Select(e => e.GetProperty("choices")[0])
                .GroupBy(c => c.GetProperty("index").GetInt32())
                .OrderBy(g => g.Key)
                .Select(g => g.ToArray())
                .ToArray();
            Assert.Equal(2, byChoice.Length);
            Assert.All(byChoice, chunks => Assert.Equal(longPrompt.Length, chunks[0].GetProperty("logprobs").GetProperty("tokens").GetArrayLength()));
            Assert.All(byChoice, chunks => Assert.Equal(longPrompt.Length + 3, chunks.Sum(c => c.GetProperty("logprobs").GetProperty("tokens").GetArrayLength())));
            Assert.Equal(byChoice[0][0].GetProperty("logprobs").ToString(), byChoice[1][0].GetProperty("logprobs").ToString());
        }
    }

    [Fact]
    public async Task A_prompt_the_prefix_cache_holds_still_gets_all_its_prompt_logprobs()
    {
        int[] prompt = [1, .. Enumerable.Range(0, 40).Select(i => 900 + (i * 7 % 50))];
        var ids = string.Join(",", prompt);

        // A plain completion leaves the prompt (and the logits after it) cached in its slot.
        var plain = await fixture.PostOkAsync("/v1/completions", $$"""{"model":"gen","prompt":[{{ids}}],"max_tokens":2,"temperature":0,"ignore_eos":true}""");
        var again = await fixture.PostOkAsync("/v1/completions", $$"""{"model":"gen","prompt":[{{ids}}],"max_tokens":2,"temperature":0,"ignore_eos":true}""");
        Assert.Equal(prompt.Length, again.GetProperty("usage").GetProperty("prompt_tokens_details").GetProperty("cached_tokens").GetInt32());

        var json = $$"""{"model":"gen","prompt":[{{ids}}],"max_tokens":2,"temperature":0,"ignore_eos":true,"echo":true,"logprobs":1}""";
        var first = await fixture.PostOkAsync("/v1/completions", json);
        var second = await fixture.PostOkAsync("/v1/completions", json);
        foreach (var body in new[] { first, second })
        {
            var logprobs = Logprobs(body);
            Assert.Equal(prompt.Length + 2, logprobs.GetProperty("token_logprobs").GetArrayLength());
            Assert.Equal(JsonValueKind.Null, logprobs.GetProperty("token_logprobs")[0].ValueKind);
            Assert.All(logprobs.GetProperty("token_logprobs").EnumerateArray().Skip(1), l => Assert.Equal(JsonValueKind.Number, l.ValueKind));
            Assert.Equal(0, body.GetProperty("usage").GetProperty("prompt_tokens_details").GetProperty("cached_tokens").GetInt32());
            // What it generates after scoring is what the plain request generated.
            Assert.Equal(plain.GetProperty("choices")[0].GetProperty("text").GetString(),
                body.GetProperty("choices")[0].GetProperty("text").GetString()![^plain.GetProperty("choices")[0].GetProperty("text").GetString()!.Length..]);
        }

        Assert.Equal(Logprobs(first).GetProperty("token_logprobs").ToString(), Logprobs(second).GetProperty("token_logprobs").ToString());
    }

    [Fact]
    public async Task A_streamed_echo_with_logprobs_sends_the_prompt_logprobs_with_the_echoed_text()
    {
        var ids = string.Join(",", Prompt);
        var expected = Logprobs(await fixture.PostOkAsync("/v1/completions", $$"""{"model":"gen","prompt":[{{ids}}],"max_tokens":0,"echo":true,"logprobs":1}"""));

        using var response = await fixture.Server.Client.PostAsync("/v1/completions", new StringContent(
            $$"""{"model":"gen","prompt":[{{ids}}],"max_tokens":3,"ignore_eos":true,"echo":true,"logprobs":1,"stream":true}""", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var events = await LlmServerFixture.ReadEventsAsync(response);
        var chunks = events.Select(e => e.GetProperty("choices")[0]).ToArray();
        var head = chunks[0].GetProperty("logprobs");
        Assert.Equal(Prompt.Length, head.GetProperty("tokens").GetArrayLength());
        Assert.Equal(expected.GetProperty("token_logprobs").ToString(), head.GetProperty("token_logprobs").ToString());
        Assert.Equal(JsonValueKind.Null, head.GetProperty("top_logprobs")[0].ValueKind);
        Assert.Equal(Prompt.Length + 3, chunks.Sum(c => c.GetProperty("logprobs").GetProperty("tokens").GetArrayLength()));
        Assert.Equal("length", chunks[^1].GetProperty("finish_reason").GetString());

        // max_tokens 0 streamed: the prompt's logprobs, then the end.
        using var scoring = await fixture.Server.Client.PostAsync("/v1/completions", new StringContent(
            $$"""{"model":"gen","prompt":[{{ids}}],"max_tokens":0,"echo":true,"logprobs":1,"stream":true}""", Encoding.UTF8, "application/json"));
        var only = (await LlmServerFixture.ReadEventsAsync(scoring)).Select(e => e.GetProperty("choices")[0]).ToArray();
        Assert.Equal(Prompt.Length, only.Sum(c => c.GetProperty("logprobs").GetProperty("tokens").GetArrayLength()));
        Assert.Equal("length", only[^1].GetProperty("finish_reason").GetString());
    }

    private static JsonElement Logprobs(JsonElement body) => body.GetProperty("choices")[0].GetProperty("logprobs");
}
