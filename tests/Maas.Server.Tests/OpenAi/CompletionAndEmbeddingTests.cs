using System.Net;
using System.Text;
using System.Text.Json;
using Maas.Testing;
using OpenAI.Embeddings;

namespace Maas.Server.Tests.OpenAi;

/// <summary>The legacy completions API (text and token prompts, echo, logprobs, streaming) and embeddings.</summary>
[Collection(LlmServerCollection.Name)]
public sealed class CompletionAndEmbeddingTests(LlmServerFixture fixture)
{
    private const string Tiny = LlmServerFixture.TinyFile;

    [SharedModelFact(Tiny)]
    public async Task Completion_of_several_prompts_with_n_echo_and_usage()
    {
        var body = await fixture.PostOkAsync("/v1/completions",
            """{"model":"tiny","prompt":["Once upon a time","The weather"],"n":2,"max_tokens":3,"ignore_eos":true,"echo":true}""");
        Assert.Equal("text_completion", body.GetProperty("object").GetString());
        var choices = body.GetProperty("choices").EnumerateArray().ToList();
        Assert.Equal(4, choices.Count);
        Assert.StartsWith("Once upon a time", choices[0].GetProperty("text").GetString(), StringComparison.Ordinal);
        Assert.StartsWith("Once upon a time", choices[1].GetProperty("text").GetString(), StringComparison.Ordinal);
        Assert.StartsWith("The weather", choices[3].GetProperty("text").GetString(), StringComparison.Ordinal);
        Assert.All(choices, c => Assert.Equal("length", c.GetProperty("finish_reason").GetString()));
        var usage = body.GetProperty("usage");
        Assert.Equal(12, usage.GetProperty("completion_tokens").GetInt32());
        Assert.True(usage.GetProperty("prompt_tokens").GetInt32() >= 4);
    }

    [SharedModelFact(Tiny)]
    public async Task Echo_of_a_token_prompt_joins_a_character_split_across_tokens()
    {
        // Llama-2's vocabulary has no piece for the emoji: it is four byte tokens, none of them text on its own.
        int[] tokens;
        using (var model = Maas.Runtimes.Llama.LlamaModel.Load(SharedModels.PathOf(Tiny)))
        {
            tokens = [.. model.Tokenizer.Tokenize("party 🎉!", addSpecial: true)];
        }

        Assert.True(tokens.Length >= 6, string.Join(",", tokens));
        var body = await fixture.PostOkAsync("/v1/completions",
            $$"""{"model":"tiny","prompt":[{{string.Join(",", tokens)}}],"max_tokens":1,"ignore_eos":true,"echo":true}""");
        var text = body.GetProperty("choices")[0].GetProperty("text").GetString()!;
        Assert.StartsWith("party 🎉!", text.TrimStart(), StringComparison.Ordinal);
        Assert.DoesNotContain('\uFFFD', text[..Math.Min(text.Length, 12)]);
    }

    [SharedModelFact(Tiny)]
    public async Task Completion_defaults_to_16_tokens_and_takes_token_prompts_and_logprobs()
    {
        var body = await fixture.PostOkAsync("/v1/completions", """{"model":"tiny","prompt":[1,450,14826],"ignore_eos":true,"logprobs":2}""");
        var choice = body.GetProperty("choices")[0];
        Assert.Equal(16, body.GetProperty("usage").GetProperty("completion_tokens").GetInt32());
        Assert.Equal(3, body.GetProperty("usage").GetProperty("prompt_tokens").GetInt32());
        var logprobs = choice.GetProperty("logprobs");
        Assert.Equal(16, logprobs.GetProperty("tokens").GetArrayLength());
        Assert.Equal(16, logprobs.GetProperty("token_logprobs").GetArrayLength());
        Assert.All(logprobs.GetProperty("top_logprobs").EnumerateArray(), t => Assert.Equal(2, t.EnumerateObject().Count()));
        Assert.All(logprobs.GetProperty("token_logprobs").EnumerateArray(), l => Assert.True(l.GetSingle() <= 0));
    }

    [Fact]
    public async Task Max_completion_tokens_caps_a_completion_too()
    {
        // Not the 16 of an absent max_tokens: the cap a client sends under chat's newer name is kept.
        var body = await fixture.PostOkAsync("/v1/completions", """{"model":"gen","prompt":"Hello","max_completion_tokens":3,"ignore_eos":true}""");
        Assert.Equal(3, body.GetProperty("usage").GetProperty("completion_tokens").GetInt32());

        body = await fixture.PostOkAsync("/v1/completions", """{"model":"gen","prompt":"Hello","max_tokens":9,"max_completion_tokens":2,"ignore_eos":true}""");
        Assert.Equal(2, body.GetProperty("usage").GetProperty("completion_tokens").GetInt32());
    }

    [Theory]
    [InlineData("max_tokens")]
    [InlineData("max_completion_tokens")]
    public async Task A_null_max_tokens_is_as_absent_16_tokens_on_completions(string field)
    {
        // Not "no limit" (the rest of the context): null means unset, and unset is the legacy API's 16.
        var body = await fixture.PostOkAsync("/v1/completions", $$"""{"model":"gen","prompt":"Hello","{{field}}":null,"ignore_eos":true}""");
        Assert.Equal(16, body.GetProperty("usage").GetProperty("completion_tokens").GetInt32());
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Max_tokens_0_with_echo_returns_the_prompt_alone(bool stream)
    {
        var json = $$"""{"model":"gen","prompt":["Hello there","Bye"],"n":2,"max_tokens":0,"echo":true,"stream":{{(stream ? "true" : "false")}}}""";
        List<(int Index, string Text, string? Finish)> choices;
        if (!stream)
        {
            var body = await fixture.PostOkAsync("/v1/completions", json);
            choices = [.. body.GetProperty("choices").EnumerateArray()
                .Select(c => (c.GetProperty("index").GetInt32(), c.GetProperty("text").GetString()!, c.GetProperty("finish_reason").GetString()))];
            var usage = body.GetProperty("usage");
            Assert.Equal(0, usage.GetProperty("completion_tokens").GetInt32());
            Assert.True(usage.GetProperty("prompt_tokens").GetInt32() >= 2);
            Assert.Equal(usage.GetProperty("prompt_tokens").GetInt32(), usage.GetProperty("total_tokens").GetInt32());
        }
        else
        {
            using var response = await fixture.Server.Client.PostAsync("/v1/completions", new StringContent(json, Encoding.UTF8, "application/json"));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            var events = await LlmServerFixture.ReadEventsAsync(response);
            choices = [.. events.Select(e => e.GetProperty("choices")[0])
                .Select(c => (c.GetProperty("index").GetInt32(), c.GetProperty("text").GetString()!, c.GetProperty("finish_reason").GetString()))];
        }

        Assert.Equal([0, 1, 2, 3], choices.Select(c => c.Index).Order());
        Assert.All(choices, c => Assert.Equal("length", c.Finish));
        Assert.Equal(["Hello there", "Hello there", "Bye", "Bye"], choices.OrderBy(c => c.Index).Select(c => c.Text));
    }

    [Theory]
    [InlineData("""{"model":"gen","prompt":"Hello","max_tokens":0}""", "max_tokens")]
    [InlineData("""{"model":"gen","prompt":"Hello","max_completion_tokens":0,"echo":false}""", "max_completion_tokens")]
    [InlineData("""{"model":"gen","prompt":"Hello","max_tokens":2,"top_logprobs":2}""", "top_logprobs")]
    [InlineData("""{"model":"gen","prompt":"Hello","max_tokens":2,"logprobs":1,"top_logprobs":2}""", "top_logprobs")]
    public async Task Completion_parameters_it_cannot_honour_are_400_naming_them(string json, string param)
    {
        var (status, body) = await fixture.PostAsync("/v1/completions", json);
        Assert.True(status == HttpStatusCode.BadRequest, $"{(int)status}: {body}");
        Assert.Equal(param, JsonDocument.Parse(body).RootElement.GetProperty("error").GetProperty("param").GetString());
    }

    [SharedModelFact(Tiny)]
    public async Task Streamed_completion_sends_text_chunks()
    {
        using var response = await fixture.Server.Client.PostAsync("/v1/completions", new StringContent(
            """{"model":"tiny","prompt":"Hello","max_tokens":5,"ignore_eos":true,"stream":true}""", Encoding.UTF8, "application/json"));
        var events = await LlmServerFixture.ReadEventsAsync(response);
        Assert.All(events, e => Assert.Equal("text_completion", e.GetProperty("object").GetString()));
        Assert.Equal("length", events[^1].GetProperty("choices")[0].GetProperty("finish_reason").GetString());
        Assert.Equal(5, events[^1].GetProperty("usage").GetProperty("completion_tokens").GetInt32());
    }

    [SharedModelFact(Tiny)]
    public async Task Embeddings_are_pooled_normalised_and_batched()
    {
        var client = fixture.OpenAi.GetEmbeddingClient("tiny");
        OpenAIEmbeddingCollection result = await client.GenerateEmbeddingsAsync(["the cat sat", "on the mat", "the cat sat"]);
        Assert.Equal(3, result.Count);
        var vectors = result.Select(e => e.ToFloats().ToArray()).ToList();
        Assert.All(vectors, v => Assert.Equal(vectors[0].Length, v.Length));
        Assert.True(vectors[0].Length >= 8);
        Assert.All(vectors, v => Assert.Equal(1.0, Math.Sqrt(v.Sum(x => (double)x * x)), 3));
        Assert.Equal(vectors[0], vectors[2]);
        Assert.NotEqual(vectors[0], vectors[1]);
        Assert.True(result.Usage.InputTokenCount > 6);
    }

    [SharedModelFact(Tiny)]
    public async Task Base64_embeddings_hold_the_same_floats()
    {
        var floats = await fixture.PostOkAsync("/v1/embeddings", """{"model":"tiny","input":"hello world","encoding_format":"float"}""");
        var base64 = await fixture.PostOkAsync("/v1/embeddings", """{"model":"tiny","input":["hello world"],"encoding_format":"base64"}""");
        var expected = floats.GetProperty("data")[0].GetProperty("embedding").EnumerateArray().Select(e => e.GetSingle()).ToArray();
        var bytes = Convert.FromBase64String(base64.GetProperty("data")[0].GetProperty("embedding").GetString()!);
        var decoded = new float[bytes.Length / 4];
        Buffer.BlockCopy(bytes, 0, decoded, 0, bytes.Length);
        Assert.Equal(expected, decoded);

        var raw = await fixture.PostOkAsync("/v1/embeddings", """{"model":"tiny","input":"hello world","normalize":false}""");
        var unnormalised = raw.GetProperty("data")[0].GetProperty("embedding").EnumerateArray().Select(e => (double)e.GetSingle()).ToArray();
        var norm = Math.Sqrt(unnormalised.Sum(x => x * x));
        Assert.Equal(expected[0], unnormalised[0] / norm, 4);
    }

    [Fact]
    public async Task Embeddings_of_a_generated_model_and_dimension_mismatch()
    {
        var body = await fixture.PostOkAsync("/v1/embeddings", """{"model":"gen","input":["a","b c"]}""");
        Assert.Equal(128, body.GetProperty("data")[0].GetProperty("embedding").GetArrayLength());
        var (status, error) = await fixture.PostAsync("/v1/embeddings", """{"model":"gen","input":"a","dimensions":64}""");
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Equal("dimensions", JsonDocument.Parse(error).RootElement.GetProperty("error").GetProperty("param").GetString());
    }

    [Theory]
    [InlineData("\"suffix\":5", "suffix")]
    [InlineData("\"best_of\":\"3\"", "best_of")]
    public async Task Suffix_and_best_of_of_a_wrong_type_are_400(string field, string param)
    {
        var (status, body) = await fixture.PostAsync("/v1/completions", $$"""{"model":"gen","prompt":"x","max_tokens":1,{{field}}}""");
        Assert.True(status == HttpStatusCode.BadRequest, $"{(int)status}: {body}");
        Assert.Equal(param, JsonDocument.Parse(body).RootElement.GetProperty("error").GetProperty("param").GetString());
    }

    [Fact]
    public async Task Cached_tokens_of_several_prompts_count_every_prompt()
    {
        const string Body = """{"model":"gen","prompt":["the first prompt of this pair, long enough","and the second prompt, which is a little longer than the first"]""" +
            ""","max_tokens":1}""";
        await fixture.PostOkAsync("/v1/completions", Body);
        // The same prompts again come back whole from the prefix cache: all of both, not just the longer one.
        var usage = (await fixture.PostOkAsync("/v1/completions", Body)).GetProperty("usage");
        Assert.Equal(usage.GetProperty("prompt_tokens").GetInt32(), usage.GetProperty("prompt_tokens_details").GetProperty("cached_tokens").GetInt32());
    }

    [Fact]
    public async Task Embedding_inputs_of_more_than_300000_tokens_together_are_400_naming_the_limit()
    {
        // 2048 inputs of 147 tokens: each fits the context, together 301056 tokens, which would hold the model's
        // embedder (and every other embeddings call on it) for as long as they take. OpenAI caps a request at 300000.
        var input = JsonSerializer.Serialize(Enumerable.Repeat(Enumerable.Repeat(5, 147), 2048));
        var (status, body) = await fixture.PostAsync("/v1/embeddings", $$"""{"model":"gen","input":{{input}}}""");
        Assert.True(status == HttpStatusCode.BadRequest, $"{(int)status}: {body[..Math.Min(body.Length, 300)]}");
        var error = JsonDocument.Parse(body).RootElement.GetProperty("error");
        Assert.Equal("input", error.GetProperty("param").GetString());
        Assert.Equal("max_tokens_per_request", error.GetProperty("code").GetString());
        Assert.Contains("300000", error.GetProperty("message").GetString()!, StringComparison.Ordinal);
    }
}
