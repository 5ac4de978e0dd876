#pragma warning disable OPENAI001 // ChatCompletionOptions.Seed is marked as evaluation-only in the client; the API has it.
using System.Net;
using System.Text;
using System.Text.Json;
using Maas.Testing;
using OpenAI.Chat;

namespace Maas.Server.Tests.OpenAi;

/// <summary>Function calling with the official client: forced calls hold to the functions' schemas, history with tool turns is accepted, bad tools are 400.</summary>
[Collection(LlmServerCollection.Name)]
public sealed class ToolCallingTests(LlmServerFixture fixture)
{
    private const string Tiny = LlmServerFixture.TinyFile;

    private static readonly string WeatherSchema = """
        {"type": "object",
         "properties": {"city": {"enum": ["Paris", "Oslo", "Lima"]}, "unit": {"enum": ["c", "f"]}, "days": {"type": "integer"}},
         "required": ["city", "unit", "days"], "additionalProperties": false}
        """;

    private static readonly ChatTool Weather = ChatTool.CreateFunctionTool("get_weather", "Weather forecast for a city", BinaryData.FromString(WeatherSchema));

    private static readonly ChatTool Time = ChatTool.CreateFunctionTool(
        "get_time", "The time in a city",
            BinaryData.FromString("""{"type": "object", "properties": {"city": {"enum": ["Paris", "Oslo"]}}, "required": ["city"], "additionalProperties": false}"""));

    private static void AssertWeatherArguments(string arguments)
    {
        using var doc = JsonDocument.Parse(arguments);
        var root = doc.RootElement;
        Assert.Equal(["city", "unit", "days"], root.EnumerateObject().Select(p => p.Name));
        Assert.Contains(root.GetProperty("city").GetString(), new[] { "Paris", "Oslo", "Lima" });
        Assert.Contains(root.GetProperty("unit").GetString(), new[] { "c", "f" });
        Assert.True(root.GetProperty("days").TryGetInt64(out _), arguments);
    }

    [Fact]
    public async Task Parallel_tool_calls_that_is_not_a_boolean_is_400()
    {
        var (status, body) = await fixture.PostAsync("/v1/chat/completions",
            """{"model":"gen","tools":[{"type":"function","function":{"name":"f"}}],"parallel_tool_calls":"false","max_tokens":1,"messages":[{"role":"user","content":"x"}]}""");
        Assert.True(status == HttpStatusCode.BadRequest, $"{(int)status}: {body}");
        Assert.Equal("parallel_tool_calls", JsonDocument.Parse(body).RootElement.GetProperty("error").GetProperty("param").GetString());
    }

    [SharedModelFact(Tiny)]
    public async Task A_forced_call_to_a_function_whose_parameters_use_their_own_defs_fits_them()
    {
        // As Pydantic writes a nested model: '#/$defs/...' points into the function's own parameters, not the request.
        var body = await fixture.PostOkAsync("/v1/chat/completions", """
            {"model":"tiny","max_tokens":250,"seed":3,"parallel_tool_calls":false,
             "messages":[{"role":"user","content":"Book a trip to Oslo"}],
             "tools":[{"type":"function","function":{"name":"book","parameters":{
                "type":"object","properties":{"to":{"$ref":"#/$defs/Place"}},"required":["to"],"additionalProperties":false,
                "$defs":{"Place":{"type":"object","properties":{"city":{"$ref":"#/definitions/City"}},"required":["city"],"additionalProperties":false}},
                "definitions":{"City":{"enum":["Paris","Oslo"]}}}}}],
             "tool_choice":{"type":"function","function":{"name":"book"}}}
            """);
        var choice = body.GetProperty("choices")[0];
        Assert.Equal("tool_calls", choice.GetProperty("finish_reason").GetString());
        var call = Assert.Single(choice.GetProperty("message").GetProperty("tool_calls").EnumerateArray());
        Assert.Equal("book", call.GetProperty("function").GetProperty("name").GetString());
        using var arguments = JsonDocument.Parse(call.GetProperty("function").GetProperty("arguments").GetString()!);
        Assert.Contains(arguments.RootElement.GetProperty("to").GetProperty("city").GetString(), new[] { "Paris", "Oslo" });
    }

    [SharedModelFact(Tiny)]
    public async Task A_required_tool_choice_answers_with_calls_whose_arguments_fit_the_schema()
    {
        var chat = fixture.OpenAi.GetChatClient("tiny");
        var options = new ChatCompletionOptions
        {
            MaxOutputTokenCount = 250,
            Seed = 3,
            Tools = { Weather, Time },
            ToolChoice = ChatToolChoice.CreateRequiredChoice(),
            AllowParallelToolCalls = false,
        };
        ChatCompletion completion = await chat.CompleteChatAsync([new UserChatMessage("What is the weather in Oslo?")], options);

        Assert.Equal(ChatFinishReason.ToolCalls, completion.FinishReason);
        var call = Assert.Single(completion.ToolCalls);
        Assert.StartsWith("call_", call.Id, StringComparison.Ordinal);
        Assert.Contains(call.FunctionName, new[] { "get_weather", "get_time" });
        if (call.FunctionName == "get_weather")
        {
            AssertWeatherArguments(call.FunctionArguments.ToString());
        }
        else
        {
            using var doc = JsonDocument.Parse(call.FunctionArguments.ToString());
            Assert.Contains(doc.RootElement.GetProperty("city").GetString(), new[] { "Paris", "Oslo" });
        }
    }

    [SharedModelFact(Tiny)]
    public async Task A_named_function_is_the_one_called_also_when_streamed()
    {
        var chat = fixture.OpenAi.GetChatClient("tiny");
        var options = new ChatCompletionOptions
        {
            MaxOutputTokenCount = 300,
            Seed = 5,
            Tools = { Time, Weather },
            ToolChoice = ChatToolChoice.CreateFunctionChoice("get_weather"),
        };
        ChatCompletion whole = await chat.CompleteChatAsync([new UserChatMessage("Weather?")], options);
        var call = Assert.Single(whole.ToolCalls);
        Assert.Equal("get_weather", call.FunctionName);
        AssertWeatherArguments(call.FunctionArguments.ToString());

        var name = new StringBuilder();
        var arguments = new StringBuilder();
        ChatFinishReason? finish = null;
        var content = new StringBuilder();
        await foreach (var update in chat.CompleteChatStreamingAsync([new UserChatMessage("Weather?")], options))
        {
            foreach (var part in update.ContentUpdate)
            {
                content.Append(part.Text);
            }

            foreach (var tool in update.ToolCallUpdates)
            {
                name.Append(tool.FunctionName);
                arguments.Append(tool.FunctionArgumentsUpdate?.ToString());
            }

            finish ??= update.FinishReason;
        }

        Assert.Equal(ChatFinishReason.ToolCalls, finish);
        Assert.Equal("", content.ToString());
        Assert.Equal("get_weather", name.ToString());
        AssertWeatherArguments(arguments.ToString());

        // Greedy and seeded the same way: the streamed call is the whole one.
        Assert.Equal(call.FunctionArguments.ToString(), arguments.ToString());
    }

    [SharedModelFact(Tiny)]
    public async Task With_auto_choice_a_plain_answer_streams_as_content_and_a_braced_one_is_held_to_the_end()
    {
        // A +100 logit bias makes the random model repeat one token, so whether the reply starts with '{' is known.
        int the, brace;
        using (var model = Maas.Runtimes.Llama.LlamaModel.Load(SharedModels.PathOf(Tiny)))
        {
            the = model.Tokenizer.Tokenize(" the", addSpecial: false).Last();
            brace = model.Tokenizer.Tokenize("{", addSpecial: false).Last();
        }

        async Task<List<JsonElement>> Stream(int token)
        {
            var json = $$$"""
                {"model":"tiny","max_tokens":4,"temperature":0,"stream":true,"logit_bias":{"{{{token}}}":100},
                 "tools":[{"type":"function","function":{"name":"get_weather"}}],"messages":[{"role":"user","content":"x"}]}
                """;
            using var response = await fixture.Server.Client.PostAsync("/v1/chat/completions", new StringContent(json, Encoding.UTF8, "application/json"));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            return await LlmServerFixture.ReadEventsAsync(response);
        }

        static List<string> Contents(List<JsonElement> events) => events
            .Select(e => e.GetProperty("choices")[0].GetProperty("delta"))
            .Where(d => d.TryGetProperty("content", out var c) && c.GetString()!.Length > 0)
            .Select(d => d.GetProperty("content").GetString()!).ToList();

        // Plain text is released as soon as its first visible character says it is no call: a delta per token.
        var plain = Contents(await Stream(the));
        Assert.True(plain.Count >= 3, string.Join("|", plain));
        Assert.StartsWith("the the", string.Concat(plain).Trim(), StringComparison.Ordinal);

        // A reply that opens with '{' but is no call comes whole at the end, as content.
        var braced = await Stream(brace);
        var held = Contents(braced);
        Assert.Single(held);
        Assert.StartsWith("{", held[0].Trim(), StringComparison.Ordinal);
        Assert.Equal("length", braced.Last(e => e.GetProperty("choices").GetArrayLength() > 0).GetProperty("choices")[0].GetProperty("finish_reason").GetString());
    }

    [SharedModelFact(Tiny)]
    public async Task A_history_with_a_tool_call_and_its_result_continues_the_chat()
    {
        var chat = fixture.OpenAi.GetChatClient("tiny");
        List<ChatMessage> messages =
        [
            new UserChatMessage("Weather in Paris?"),
            new AssistantChatMessage([ChatToolCall.CreateFunctionToolCall("call_1", "get_weather", BinaryData.FromString("""{"city":"Paris","unit":"c","days":1}"""))]),
            new ToolChatMessage("call_1", """{"forecast": "sunny", "high": 21}"""),
        ];
        ChatCompletion completion = await chat.CompleteChatAsync(messages, new ChatCompletionOptions { MaxOutputTokenCount = 5, Tools = { Weather } });
        Assert.Contains(completion.FinishReason, new[] { ChatFinishReason.Stop, ChatFinishReason.Length, ChatFinishReason.ToolCalls });
        Assert.True(completion.Usage.InputTokenCount > 40, "the tool instructions, the call and its result are in the prompt");
    }

    [Theory]
    [InlineData("""[{"type":"function"}]""", "missing_required_parameter")]
    [InlineData("""[{"type":"function","function":null}]""", "missing_required_parameter")]
    [InlineData("""[{"type":"function","function":"f"}]""", "invalid_value")]
    public async Task A_required_part_that_is_missing_and_one_of_the_wrong_shape_get_their_own_codes(string tools, string code)
    {
        var (status, body) = await fixture.PostAsync("/v1/chat/completions", $$"""{"model":"gen","messages":[{"role":"user","content":"x"}],"tools":{{tools}}}""");
        Assert.True(status == HttpStatusCode.BadRequest, $"{(int)status}: {body}");
        var error = JsonDocument.Parse(body).RootElement.GetProperty("error");
        Assert.Equal("tools[0].function", error.GetProperty("param").GetString());
        Assert.Equal(code, error.GetProperty("code").GetString());
    }

    [Theory]
    [InlineData("""{"model":"gen","messages":[{"role":"user","content":"x"}],"tools":{}}""", "tools")]
    [InlineData("""{"model":"gen","messages":[{"role":"user","content":"x"}],"tools":["f"]}""", "tools[0]")]
    [InlineData("""{"model":"gen","messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{"name":"f"}},{"type":"retrieval"}]}""", "tools[1].type")]
    [InlineData("""{"model":"gen","messages":[{"role":"user","content":"x"}],"tools":[{"function":{"name":"f"}}]}""", "tools[0].type")]
    [InlineData("""{"model":"gen","messages":[{"role":"user","content":"x"}],"tools":[{"type":"function"}]}""", "tools[0].function")]
    [InlineData("""{"model":"gen","messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{"name":"f"}},{"type":"function","function":""" +
        """{"description":"no name"}}]}""", "tools[1].function.name")]
    [InlineData("""{"model":"gen","messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{"name":"bad name!"}}]}""", "tools[0].function.name")]
    [InlineData("""{"model":"gen","messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{"name":"f","parameters":"object"}}]}""",
        "tools[0].function.parameters")]
    [InlineData("""{"model":"gen","messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{"name":"f","description":5}}]}""",
        "tools[0].function.description")]
    [InlineData("""{"model":"gen","messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{"name":"f"}},{"type":"function","function":{"name":"g"}},""" +
        """{"type":"function","function":{"name":"f"}}]}""", "tools[2].function.name")]
    [InlineData("""{"model":"gen","messages":[{"role":"user","content":"x"}],"tool_choice":"required"}""", "tool_choice")]
    [InlineData("""{"model":"gen","messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":"sometimes"}""", "tool_choice")]
    [InlineData("""{"model":"gen","messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":""" +
        """{"type":"function","function":{"name":"g"}}}""", "tool_choice.function.name")]
    [InlineData("""{"model":"gen","messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":{"type":"function"}}""",
        "tool_choice.function")]
    [InlineData("""{"model":"gen","messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":""" +
        """{"type":"function","function":{}}}""", "tool_choice.function.name")]
    [InlineData("""{"model":"gen","messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":{"type":"tool","function":""" +
        """{"name":"f"}}}""", "tool_choice.type")]
    [InlineData("""{"model":"gen","messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":{"function":{"name":"f"}}}""",
        "tool_choice.type")]
    [InlineData("""{"model":"gen","messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object","properties":""" +
        """{"s":{"type":"string","pattern":"^a+$"}}}}}],"tool_choice":"required"}""", "tools[0].function.parameters")]
    [InlineData("""{"model":"gen","messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{"name":"f"}},{"type":"function","function":""" +
        """{"name":"g","parameters":{"type":"object","properties":{"n":{"type":"decimal"}}}}}],"tool_choice":{"type":"function","function":{"name":"g"}}}""",
        "tools[1].function.parameters")]
    [InlineData("""{"model":"gen","messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":"required","response_format":""" +
        """{"type":"json_object"}}""", "response_format")]
    public async Task Bad_tools_are_400_naming_the_parameter(string json, string param)
    {
        var (status, body) = await fixture.PostAsync("/v1/chat/completions", json);
        Assert.True(status == HttpStatusCode.BadRequest, $"{(int)status}: {body}");
        using var doc = JsonDocument.Parse(body);
        Assert.Equal(param, doc.RootElement.GetProperty("error").GetProperty("param").GetString());
    }
}
