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
        using var response = await fixture.Server.Client.PostAsync("/v1/chat/completions",
            new StringContent(Request(the, "\"e t\"", stream: true), Encoding.UTF8, "application/json"));
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
        Assert.Equal("response_format.json_schema.schema", error.GetProperty("param").GetString());
        Assert.Contains("'format'", error.GetProperty("message").GetString(), StringComparison.Ordinal);
        Assert.Contains("/properties/d", error.GetProperty("message").GetString(), StringComparison.Ordinal);
    }

    // A definition that starts with itself, directly or through others, makes a left-recursive grammar rule that
    // llama.cpp refuses only once a model samples with it; it is refused up front, naming the schema and the place.
    private const string LeftRecursive = """
        {"$defs":{"expr":{"anyOf":[{"$ref":"#/$defs/sum"},{"type":"integer"}]},
                  "sum":{"anyOf":[{"$ref":"#/$defs/expr"},{"type":"null"}]}},
         "$ref":"#/$defs/expr"}
        """;

    public static TheoryData<string, string> LeftRecursiveRequests => new()
    {
        {
            """{"model":"gen","max_tokens":4,"messages":[{"role":"user","content":"x"}],"response_format":{"type":"json_schema","json_schema":{"name":"e","schema":""" +
            LeftRecursive + "}}}",
            "response_format.json_schema.schema"
        },
        {
            // A bare schema (no name/schema wrapper) sits in json_schema itself.
            """{"model":"gen","max_tokens":4,"messages":[{"role":"user","content":"x"}],"response_format":{"type":"json_schema","json_schema":""" + LeftRecursive + "}}",
            "response_format.json_schema"
        },
        {
            """
            {"model":"gen","max_tokens":4,"messages":[{"role":"user","content":"x"}],"tool_choice":"required",
             "tools":[{"type":"function","function":{"name":"f"}},{"type":"function","function":{"name":"g","parameters":{"type":"object","properties":{"v":{"type":"integer"}}}}},
                      {"type":"function","function":{"name":"h","parameters":
            """ + LeftRecursive + "}}]}",
            "tools[2].function.parameters"
        },
    };

    [Theory]
    [MemberData(nameof(LeftRecursiveRequests))]
    public async Task A_left_recursive_schema_is_refused_up_front_naming_its_parameter_and_place(string json, string param)
    {
        var (status, body) = await fixture.PostAsync("/v1/chat/completions", json);
        Assert.True(status == System.Net.HttpStatusCode.BadRequest, $"{(int)status}: {body}");
        var error = JsonDocument.Parse(body).RootElement.GetProperty("error");
        Assert.Equal(param, error.GetProperty("param").GetString());
        Assert.Equal("invalid_json_schema", error.GetProperty("code").GetString());
        var message = error.GetProperty("message").GetString()!;
        Assert.Contains("left recursion", message, StringComparison.Ordinal);
        Assert.Contains("/$defs/sum/anyOf/0/$ref", message, StringComparison.Ordinal);
        Assert.DoesNotContain("llama.cpp", message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Recursion_inside_an_object_or_array_is_still_served()
    {
        var body = await fixture.PostOkAsync("/v1/chat/completions", """
            {"model":"gen","max_tokens":4,"messages":[{"role":"user","content":"x"}],"response_format":{"type":"json_schema","json_schema":{"name":"t","schema":
              {"$defs":{"node":{"anyOf":[{"type":"object","properties":{"kids":{"type":"array","items":{"$ref":"#/$defs/node"}}}},{"type":"null"}]}},"$ref":"#/$defs/node"}}}}
            """);
        Assert.Equal("chat.completion", body.GetProperty("object").GetString());
    }

    // With a stop string, the logprobs describe the text returned: the tokens that made the cut stop string are not in
    // them (a token the cut splits stays, so every character returned has its token).
    [SharedModelTheory(Tiny)]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Logprobs_end_with_the_text_a_stop_string_cut(bool stream)
    {
        var the = TokenOf("the");
        string Body(string stop) => $$"""
            {"model":"tiny","max_tokens":10,"temperature":0,"logprobs":0,"stream":{{(stream ? "true" : "false")}},"logit_bias":{"{{the}}":100},"stop":{{stop}},"prompt":"repeat"}
            """;
        var full = (await fixture.PostOkAsync("/v1/completions", Body("null").Replace("\"stream\":true", "\"stream\":false", StringComparison.Ordinal)))
            .GetProperty("choices")[0].GetProperty("text").GetString()!;
        var expected = full[..full.IndexOf("e t", StringComparison.Ordinal)];

        string text;
        List<string> tokens;
        if (!stream)
        {
            var choice = (await fixture.PostOkAsync("/v1/completions", Body("\"e t\""))).GetProperty("choices")[0];
            text = choice.GetProperty("text").GetString()!;
            var logprobs = choice.GetProperty("logprobs");
            tokens = [.. logprobs.GetProperty("tokens").EnumerateArray().Select(t => t.GetString()!)];
            Assert.Equal(tokens.Count, logprobs.GetProperty("token_logprobs").GetArrayLength());
            Assert.All(logprobs.GetProperty("text_offset").EnumerateArray(), o => Assert.True(o.GetInt32() < text.Length, $"offset {o} past the text '{text}'"));
        }
        else
        {
            using var response = await fixture.Server.Client.PostAsync("/v1/completions", new StringContent(Body("\"e t\""), Encoding.UTF8, "application/json"));
            var events = await LlmServerFixture.ReadEventsAsync(response);
            text = string.Concat(events.Select(e => e.GetProperty("choices")[0].GetProperty("text").GetString()));
            tokens = [.. events.SelectMany(e => e.GetProperty("choices")[0].GetProperty("logprobs") is { ValueKind: JsonValueKind.Object } lp
                ? lp.GetProperty("tokens").EnumerateArray().Select(t => t.GetString()!)
                : [])];
        }

        Assert.Equal(expected, text);
        // " the" then the next " the", cut after "th": one token made the text; the one that completed "e t" is not kept.
        Assert.Single(tokens);
        Assert.StartsWith(text.TrimStart(), string.Concat(tokens).TrimStart(), StringComparison.Ordinal);
    }
}
