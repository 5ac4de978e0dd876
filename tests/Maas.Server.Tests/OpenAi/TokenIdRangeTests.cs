using System.Net;
using System.Text.Json;

namespace Maas.Server.Tests.OpenAi;

/// <summary>
/// Token ids a caller sends (prompts given as ids, logit_bias keys, embedding inputs given as ids) outside the model's
/// vocabulary get 400 in OpenAI's error format naming the id and the vocabulary size, on every route that takes them,
/// and the model keeps serving.
/// </summary>
[Collection(LlmServerCollection.Name)]
public sealed class TokenIdRangeTests(LlmServerFixture fixture)
{
    [Fact]
    public async Task Ids_outside_the_vocabulary_are_400_naming_the_id_and_the_vocabulary_size()
    {
        await fixture.PostOkAsync("/v1/completions", """{"model":"gen","prompt":[1,2,3],"max_tokens":1}""");
        var size = await VocabularySizeAsync("gen");
        var last = size - 1;

        var cases = new (string Path, string Body, string Param, long Id)[]
        {
            ("/v1/completions", $$"""{"model":"gen","prompt":[1,2,{{size}}],"max_tokens":1}""", "prompt", size),
            ("/v1/completions", $$"""{"model":"gen","prompt":[[1,2],[3,{{int.MaxValue}}]],"max_tokens":1}""", "prompt", int.MaxValue),
            ("/v1/completions", $$$"""{"model":"gen","prompt":[5,6],"echo":true,"max_tokens":1,"stream":true,"logit_bias":{"{{{size + 1}}}":3}}""", "logit_bias", size + 1),
            ("/v1/chat/completions", $$"""{"model":"gen","logit_bias":{"5":1,"{{size}}":-100},"messages":[{"role":"user","content":"x"}]}""", "logit_bias", size),
            ("/v1/chat/completions", $$"""{"model":"gen","n":3,"stream":true,"logit_bias":{"{{int.MaxValue}}":5},"messages":[{"role":"user","content":"x"}]}""", "logit_bias",
            int.MaxValue),
            ("/v1/embeddings", $$"""{"model":"gen","input":[[1,2],[3,{{size * 4}}]]}""", "input", size * 4),
            ("/v1/embeddings", $$"""{"model":"gen","input":[{{size}}]}""", "input", size),
            ("/v1/completions", """{"model":"gen","prompt":[4,-1],"max_tokens":1}""", "prompt", -1),
            ("/v1/chat/completions", """{"model":"gen","logit_bias":{"-5":1},"messages":[{"role":"user","content":"x"}]}""", "logit_bias", -5),
            ("/v1/embeddings", $$"""{"model":"gen","input":[[1],[{{int.MinValue}}]]}""", "input", int.MinValue),
        };

        foreach (var (path, body, param, id) in cases)
        {
            var (status, text) = await fixture.PostAsync(path, body);
            Assert.True(status == HttpStatusCode.BadRequest, $"{path} {body}: {(int)status} {text}");
            var error = JsonDocument.Parse(text).RootElement.GetProperty("error");
            Assert.Equal("invalid_request_error", error.GetProperty("type").GetString());
            Assert.Equal(param, error.GetProperty("param").GetString());
            Assert.Equal("invalid_value", error.GetProperty("code").GetString());
            var message = error.GetProperty("message").GetString()!;
            Assert.Contains($"token id {id}", message, StringComparison.Ordinal);
            Assert.Contains($"{size} tokens", message, StringComparison.Ordinal);
        }

        // Past 32 bits no model has the id: refused as the request is read, naming it.
        foreach (var (path, body, param) in new[]
        {
            ("/v1/completions", """{"model":"gen","prompt":[1,99999999999],"max_tokens":1}""", "prompt"),
            ("/v1/embeddings", """{"model":"gen","input":[1,2.5]}""", "input"),
            ("/v1/chat/completions", """{"model":"gen","logit_bias":{"99999999999":1},"messages":[{"role":"user","content":"x"}]}""", "logit_bias"),
        })
        {
            var (status, text) = await fixture.PostAsync(path, body);
            Assert.True(status == HttpStatusCode.BadRequest, $"{path} {body}: {(int)status} {text}");
            var error = JsonDocument.Parse(text).RootElement.GetProperty("error");
            Assert.Equal(param, error.GetProperty("param").GetString());
            Assert.Contains(body.Contains("2.5", StringComparison.Ordinal) ? "2.5" : "99999999999", error.GetProperty("message").GetString()!, StringComparison.Ordinal);
        }

        // The last id of the vocabulary is a token like any other, and the model still serves.
        var completion = await fixture.PostOkAsync("/v1/completions",
            $$$"""{"model":"gen","prompt":[1,{{{last}}}],"max_tokens":2,"ignore_eos":true,"logit_bias":{"{{{last}}}":-100}}""");
        Assert.Equal(2, completion.GetProperty("usage").GetProperty("completion_tokens").GetInt32());
        var embedding = await fixture.PostOkAsync("/v1/embeddings", $$"""{"model":"gen","input":[0,{{last}}]}""");
        Assert.Single(embedding.GetProperty("data").EnumerateArray());
    }

    private async Task<int> VocabularySizeAsync(string model)
    {
        var engines = JsonDocument.Parse(await fixture.Server.Client.GetStringAsync("/api/v1/llm/engines")).RootElement;
        return engines.EnumerateArray().First(e => e.GetProperty("model").GetString() == model).GetProperty("info").GetProperty("vocabulary_size").GetInt32();
    }
}
