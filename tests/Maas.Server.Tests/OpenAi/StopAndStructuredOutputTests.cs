#pragma warning disable OPENAI001 // ChatCompletionOptions.Seed is marked as evaluation-only in the client; the API has it.
using System.Text;
using System.Text.Json;
using Maas.Runtimes.Llama;
using Maas.Testing;
using OpenAI.Chat;

namespace Maas.Server.Tests.OpenAi;

/// <summary>Stop strings across token boundaries, and json_schema output that parses and validates.</summary>
[Collection(LlmServerCollection.Name)]
public sealed class StopAndStructuredOutputTests(LlmServerFixture fixture)
{
    private const string Tiny = LlmServerFixture.TinyFile;

    // A +100 logit bias makes the random model repeat one token, so the text (and where a stop string falls) is known.
    private static int TokenOf(string text)
    {
        using var model = LlamaModel.Load(SharedModels.PathOf(Tiny));
        var tokens = model.Tokenizer.Tokenize(text, addSpecial: false);
        Assert.Single(tokens);
        return tokens[0];
    }

    private string Request(int token, string stop, bool stream) =>
        $$"""
        {"model":"tiny","max_tokens":10,"temperature":0,"stream":{{(stream ? "true" : "false")}},"logit_bias":{"{{token}}":100},
         "stop":{{stop}},"messages":[{"role":"user","content":"repeat"}]}
        """;

    [SharedModelFact(Tiny)]
    public async Task A_stop_string_spanning_two_tokens_ends_the_answer_before_it()
    {
        var the = TokenOf("the"); // SentencePiece adds the leading space itself: "▁the"
        var full = (await fixture.PostOkAsync("/v1/chat/completions", Request(the, "null", stream: false)))
            .GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString()!;
        Assert.Contains("the the the", full, StringComparison.Ordinal);
        var expected = full[..full.IndexOf("e t", StringComparison.Ordinal)];

        var body = await fixture.PostOkAsync("/v1/chat/completions", Request(the, """["never-there", "e t"]""", stream: false));
        var choice = body.GetProperty("choices")[0];
        Assert.Equal(expected, choice.GetProperty("message").GetProperty("content").GetString());
        Assert.Equal("stop", choice.GetProperty("finish_reason").GetString());

        // Streamed, the held-back "e" of the stop string never reaches the client.
        using var response = await fixture.Server.Client.PostAsync("/v1/chat/completions", new StringContent(Request(the, "\"e t\"", stream: true), Encoding.UTF8, "application/json"));
        var events = await LlmServerFixture.ReadEventsAsync(response);
        var streamed = string.Concat(events.Select(e => e.GetProperty("choices")[0].GetProperty("delta").TryGetProperty("content", out var c) ? c.GetString() : ""));
        Assert.Equal(expected, streamed);
        Assert.Equal("stop", events[^1].GetProperty("choices")[0].GetProperty("finish_reason").GetString());
    }

    [SharedModelFact(Tiny)]
    public async Task Json_schema_output_parses_and_validates()
    {
        var schema = """
            {
              "type": "object",
              "properties": {
                "name": {"type": "string", "minLength": 1, "maxLength": 6},
                "age": {"type": "integer"},
                "active": {"type": "boolean"},
                "color": {"enum": ["red", "green", "blue"]},
                "tags": {"type": "array", "items": {"type": "string", "maxLength": 4}, "maxItems": 2},
                "score": {"type": ["number", "null"]}
              },
              "required": ["name", "age", "active", "color", "tags", "score"],
              "additionalProperties": false
            }
            """;
        var chat = fixture.OpenAi.GetChatClient("tiny");
        for (var seed = 1; seed <= 2; seed++)
        {
            ChatCompletion completion = await chat.CompleteChatAsync(
                [new UserChatMessage("Describe a person as JSON.")],
                new ChatCompletionOptions
                {
                    MaxOutputTokenCount = 300,
                    Seed = seed,
                    ResponseFormat = ChatResponseFormat.CreateJsonSchemaFormat("person", BinaryData.FromString(schema), jsonSchemaIsStrict: true),
                });

            Assert.Equal(ChatFinishReason.Stop, completion.FinishReason);
            var text = completion.Content[0].Text;
            using var doc = JsonDocument.Parse(text);
            var root = doc.RootElement;
            Assert.Equal(["name", "age", "active", "color", "tags", "score"], root.EnumerateObject().Select(p => p.Name));
            Assert.InRange(root.GetProperty("name").GetString()!.Length, 1, 6);
            Assert.True(root.GetProperty("age").TryGetInt64(out _), text);
            Assert.Contains(root.GetProperty("active").ValueKind, new[] { JsonValueKind.True, JsonValueKind.False });
            Assert.Contains(root.GetProperty("color").GetString(), new[] { "red", "green", "blue" });
            var tags = root.GetProperty("tags");
            Assert.InRange(tags.GetArrayLength(), 0, 2);
            Assert.All(tags.EnumerateArray(), t => Assert.InRange(t.GetString()!.Length, 0, 4));
            Assert.Contains(root.GetProperty("score").ValueKind, new[] { JsonValueKind.Number, JsonValueKind.Null });
        }
    }

    [SharedModelFact(Tiny)]
    public async Task Unsupported_schema_features_are_refused_with_400_naming_them()
    {
        var (status, body) = await fixture.PostAsync("/v1/chat/completions", """
            {"model":"tiny","messages":[{"role":"user","content":"x"}],
             "response_format":{"type":"json_schema","json_schema":{"name":"x","schema":{"type":"object","properties":{"d":{"type":"string","format":"date"}}}}}}
            """);
        Assert.Equal(System.Net.HttpStatusCode.BadRequest, status);
        var error = JsonDocument.Parse(body).RootElement.GetProperty("error");
        Assert.Equal("response_format", error.GetProperty("param").GetString());
        Assert.Contains("'format'", error.GetProperty("message").GetString(), StringComparison.Ordinal);
        Assert.Contains("/properties/d", error.GetProperty("message").GetString(), StringComparison.Ordinal);
    }
}
