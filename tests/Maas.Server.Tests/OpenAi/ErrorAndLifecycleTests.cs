using System.ClientModel;
using System.Net;
using System.Text;
using System.Text.Json;
using Maas.Core.Hosting;
using Maas.Core.Llm;
using Maas.Server.OpenAi;
using Maas.Server.Tests.Support;
using Maas.Testing;
using Microsoft.Extensions.DependencyInjection;
using OpenAI.Chat;
using OpenAI.Models;

namespace Maas.Server.Tests.OpenAi;

/// <summary>OpenAI-format errors with the right status, the model list, queue limits and keep-alive unloading.</summary>
[Collection(LlmServerCollection.Name)]
public sealed class ErrorAndLifecycleTests(LlmServerFixture fixture)
{
    private const string Tiny = LlmServerFixture.TinyFile;

    private static JsonElement Error(string body)
    {
        var error = JsonDocument.Parse(body).RootElement.GetProperty("error");
        foreach (var field in new[] { "message", "type", "param", "code" })
        {
            Assert.True(error.TryGetProperty(field, out _), $"error lacks '{field}': {body}");
        }

        Assert.False(string.IsNullOrWhiteSpace(error.GetProperty("message").GetString()));
        return error;
    }

    [Fact]
    public async Task Unknown_model_is_404_in_openai_format_for_the_client_and_raw_http()
    {
        var chat = fixture.OpenAi.GetChatClient("no-such-model");
        var thrown = await Assert.ThrowsAsync<ClientResultException>(() => chat.CompleteChatAsync([new UserChatMessage("hi")]));
        Assert.Equal(404, thrown.Status);

        var (status, body) = await fixture.PostAsync("/v1/chat/completions", """{"model":"no-such-model:prod","messages":[{"role":"user","content":"x"}]}""");
        Assert.Equal(HttpStatusCode.NotFound, status);
        var error = Error(body);
        Assert.Equal("model_not_found", error.GetProperty("code").GetString());
        Assert.Equal("model", error.GetProperty("param").GetString());
        Assert.Equal("invalid_request_error", error.GetProperty("type").GetString());
    }

    [Fact]
    public async Task An_llm_called_through_the_open_inference_protocol_is_400_and_still_answers_chat()
    {
        // Before, the tensor path handed the GGUF version to the model host with tensor settings: a 500 with an empty
        // body, and every later call of the model (chat included) failed on the same exception until a restart.
        const string name = "gen-over-v2";
        await LlmServerFixture.RegisterAsync(fixture.Server.Client, name, await File.ReadAllBytesAsync(fixture.GeneratedPath), "gen.gguf");
        var client = fixture.Server.Client;
        foreach (var (method, path, body) in new[]
        {
            (HttpMethod.Get, $"/v2/models/{name}", null),
            (HttpMethod.Get, $"/v2/models/{name}/versions/1", null),
            (HttpMethod.Post, $"/v2/models/{name}/infer", """{"inputs":[{"name":"x","datatype":"FP32","shape":[1],"data":[1]}]}"""),
            (HttpMethod.Post, $"/v2/repository/models/{name}/load", null),
        })
        {
            using var request = new HttpRequestMessage(method, path) { Content = body is null ? null : new StringContent(body, Encoding.UTF8, "application/json") };
            using var response = await client.SendAsync(request);
            var text = await response.Content.ReadAsStringAsync();
            Assert.True(response.StatusCode == HttpStatusCode.BadRequest, $"{method} {path}: {(int)response.StatusCode} {text}");
            var error = JsonDocument.Parse(text).RootElement.GetProperty("error").GetString()!;
            Assert.Contains("GGUF", error, StringComparison.Ordinal);
            Assert.Contains("/v1/chat/completions", error, StringComparison.Ordinal);
        }

        var answer = await fixture.PostOkAsync("/v1/chat/completions", $$"""{"model":"{{name}}","max_tokens":2,"messages":[{"role":"user","content":"hi"}]}""");
        Assert.Equal("chat.completion", answer.GetProperty("object").GetString());
    }

    [Fact]
    public async Task An_unknown_route_or_method_under_v1_is_answered_in_openai_format()
    {
        var (status, body) = await fixture.PostAsync("/v1/no-such-route", "{}");
        Assert.Equal(HttpStatusCode.NotFound, status);
        var error = Error(body);
        Assert.Equal("unknown_url", error.GetProperty("code").GetString());
        Assert.Equal("Invalid URL (POST /v1/no-such-route)", error.GetProperty("message").GetString());

        using var wrongMethod = await fixture.Server.Client.GetAsync("/v1/chat/completions");
        Assert.Equal(HttpStatusCode.MethodNotAllowed, wrongMethod.StatusCode);
        error = Error(await wrongMethod.Content.ReadAsStringAsync());
        Assert.Equal("method_not_allowed", error.GetProperty("code").GetString());
        Assert.Equal("invalid_request_error", error.GetProperty("type").GetString());
    }

    [Fact]
    public async Task Context_overflow_is_400_with_the_numbers()
    {
        var (status, body) = await fixture.PostAsync("/v1/chat/completions", """{"model":"gen","max_tokens":3000,"messages":[{"role":"user","content":"x"}]}""");
        Assert.Equal(HttpStatusCode.BadRequest, status);
        var error = Error(body);
        var message = error.GetProperty("message").GetString()!;
        Assert.Equal("context_length_exceeded", error.GetProperty("code").GetString());
        Assert.Contains("512", message, StringComparison.Ordinal);
        Assert.Contains("3000 in the completion", message, StringComparison.Ordinal);

        var (status2, body2) = await fixture.PostAsync("/v1/completions", JsonSerializer.Serialize(new { model = "gen", prompt = string.Concat(Enumerable.Repeat("word ", 700)) }));
        Assert.Equal(HttpStatusCode.BadRequest, status2);
        var error2 = Error(body2);
        Assert.Equal("context_length_exceeded", error2.GetProperty("code").GetString());
        // A completion's prompt is 'prompt', not 'messages' (a chat's).
        Assert.Equal("prompt", error2.GetProperty("param").GetString());
        Assert.Contains(" in the prompt,", error2.GetProperty("message").GetString(), StringComparison.Ordinal);
        Assert.Equal("messages", error.GetProperty("param").GetString());
    }

    [Theory]
    [InlineData("""{"model":"gen","messages":[]}""", "messages")]
    [InlineData("""{"model":"gen"}""", "messages")]
    [InlineData("""{"messages":[{"role":"user","content":"x"}]}""", "model")]
    [InlineData("""{"model":"gen","temperature":3,"messages":[{"role":"user","content":"x"}]}""", "temperature")]
    [InlineData("""{"model":"gen","stop":7,"messages":[{"role":"user","content":"x"}]}""", "stop")]
    [InlineData("""{"model":"gen","top_logprobs":3,"messages":[{"role":"user","content":"x"}]}""", "top_logprobs")]
    [InlineData("""{"model":"gen","logit_bias":{"999999":5},"messages":[{"role":"user","content":"x"}]}""", "logit_bias")]
    [InlineData("""{"model":"gen","messages":[{"role":"wizard","content":"x"}]}""", "messages[0].role")]
    [InlineData("""{"model":"gen","messages":[{"role":"user","content":"x"},{"content":"y"}]}""", "messages[1].role")]
    [InlineData("""{"model":"gen","messages":["hi"]}""", "messages[0]")]
    [InlineData("""{"model":"gen","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"x"}}]}]}""", "messages[0].content[0]")]
    [InlineData("""{"model":"gen","messages":[{"role":"user","content":7}]}""", "messages[0].content")]
    [InlineData("""{"model":"gen","messages":[{"role":"user","name":7,"content":"x"}]}""", "messages[0].name")]
    [InlineData("""{"model":"gen","messages":[{"role":"user","content":null}]}""", "messages[0].content")]
    [InlineData("""{"model":"gen","messages":[{"role":"system","content":"be brief"},{"role":"user","content":[]}]}""", "messages[1].content")]
    [InlineData("""{"model":"gen","messages":[{"role":"user"}]}""", "messages[0].content")]
    [InlineData("""{"model":"gen","messages":[{"role":"system","content":null},{"role":"user","content":"x"}]}""", "messages[0].content")]
    [InlineData("""{"model":"gen","messages":[{"role":"user","content":"x"},{"role":"tool","tool_call_id":"c1","content":null}]}""", "messages[1].content")]
    [InlineData("""{"model":"gen","response_format":{"type":"yaml"},"messages":[{"role":"user","content":"x"}]}""", "response_format.type")]
    [InlineData("""{"model":"gen","response_format":{"type":"json_schema"},"messages":[{"role":"user","content":"x"}]}""", "response_format.json_schema")]
    [InlineData("""{"model":"gen","response_format":{"type":"json_schema","json_schema":"x"},"messages":[{"role":"user","content":"x"}]}""", "response_format.json_schema")]
    [InlineData("""{"model":"gen","messages":[{"role":"user","content":"x"},{"role":"assistant"},{"role":"user","content":"y"}]}""", "messages[1].content")]
    [InlineData("""{"model":"gen","messages":[{"role":"user","content":"x"},{"role":"assistant","content":null},{"role":"user","content":"y"}]}""", "messages[1].content")]
    [InlineData("""{"model":"gen","messages":[{"role":"user","content":"x"},{"role":"assistant","content":null,"tool_calls":null},{"role":"user","content":"y"}]}""",
        "messages[1].content")]
    [InlineData("""{"model":"gen","messages":[{"role":"user","content":"x"},{"role":"assistant","tool_calls":[]},{"role":"user","content":"y"}]}""", "messages[1].tool_calls")]
    [InlineData("""{"model":"gen","messages":[{"role":"user","content":"x"},{"role":"assistant","content":"z","tool_calls":{}},{"role":"user","content":"y"}]}""",
        "messages[1].tool_calls")]
    [InlineData("""{"model":"gen","messages":[{"role":"user","content":"x"},{"role":"assistant","tool_calls":[5]},{"role":"user","content":"y"}]}""", "messages[1].tool_calls[0]")]
    [InlineData("""{"model":"gen","messages":[{"role":"user","content":"x"},{"role":"assistant","tool_calls":[{"id":"c","type":"function","function":""" +
        """{"name":"f","arguments":"{}"}},{"id":"d"}]}]}""", "messages[1].tool_calls[1].function")]
    [InlineData("""{"model":"gen","messages":[{"role":"user","content":"x"},{"role":"assistant","tool_calls":[{"id":"c","type":"function","function":{"arguments":"{}"}}]}]}""",
        "messages[1].tool_calls[0].function.name")]
    [InlineData("""{"model":"gen","messages":[{"role":"user","content":"x"},{"role":"tool","content":"r"}]}""", "messages[1].tool_call_id")]
    [InlineData("""{"model":"gen","messages":[{"role":"user","content":[{"type":"text","text":"a"},{"type":"text"}]}]}""", "messages[0].content[1].text")]
    [InlineData("""{"model":"gen","response_format":{},"messages":[{"role":"user","content":"x"}]}""", "response_format.type")]
    [InlineData("""{"model":"gen","response_format":{"type":"json_schema","json_schema":{"name":"answer","strict":true}},"messages":[{"role":"user","content":"x"}]}""",
        "response_format.json_schema.schema")]
    [InlineData("""{"model":"gen","stream_options":{"include_usage":true},"messages":[{"role":"user","content":"x"}]}""", "stream_options")]
    [InlineData("""{"model":"gen","stream":false,"stream_options":{"include_usage":false},"messages":[{"role":"user","content":"x"}]}""", "stream_options")]
    [InlineData("""{"model":"gen","n":0,"messages":[{"role":"user","content":"x"}]}""", "n")]
    [InlineData("""{"model":"gen","max_tokens":"x","max_completion_tokens":3,"messages":[{"role":"user","content":"x"}]}""", "max_tokens")]
    [InlineData("""{"model":"gen","functions":[{"name":"f","parameters":{"type":"object"}}],"messages":[{"role":"user","content":"x"}]}""", "functions")]
    [InlineData("""{"model":"gen","function_call":{"name":"f"},"messages":[{"role":"user","content":"x"}]}""", "function_call")]
    [InlineData("""{"model":"gen","modalities":["text","audio"],"messages":[{"role":"user","content":"x"}]}""", "modalities")]
    [InlineData("""{"model":"gen","modalities":"text","messages":[{"role":"user","content":"x"}]}""", "modalities")]
    [InlineData("""{"model":"gen","audio":{"voice":"alloy","format":"wav"},"messages":[{"role":"user","content":"x"}]}""", "audio")]
    [InlineData("""{"model":"gen","prediction":{"type":"content","content":"draft"},"messages":[{"role":"user","content":"x"}]}""", "prediction")]
    [InlineData("""{"model":"gen","web_search_options":{},"messages":[{"role":"user","content":"x"}]}""", "web_search_options")]
    [InlineData("""{"model":"gen","reasoning_effort":"low","messages":[{"role":"user","content":"x"}]}""", "reasoning_effort")]
    public async Task Bad_parameters_are_400_naming_the_parameter(string json, string param)
    {
        var (status, body) = await fixture.PostAsync("/v1/chat/completions", json);
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Equal(param, Error(body).GetProperty("param").GetString());
    }

    [Theory]
    [InlineData("/v1/chat/completions", """{"model":"gen","max_tokens":2,"max_tokens":100000,"messages":[{"role":"user","content":"x"}]}""", "max_tokens")]
    [InlineData("/v1/chat/completions", """{"model":"gen","messages":[{"role":"user","content":"x","role":"system"}]}""", "role")]
    [InlineData("/v1/completions", """{"model":"gen","prompt":"x","model":"other"}""", "model")]
    public async Task A_key_given_twice_is_400_invalid_json_naming_it(string route, string json, string key)
    {
        // Parsers disagree on which of two keys wins (a gateway checking one, the server using the other): refused.
        var (status, body) = await fixture.PostAsync(route, json);
        Assert.Equal(HttpStatusCode.BadRequest, status);
        var error = Error(body);
        Assert.Equal("invalid_json", error.GetProperty("code").GetString());
        Assert.Contains($"'{key}'", error.GetProperty("message").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Harmless_hints_are_accepted_and_ignored_and_null_refused_fields_are_served()
    {
        var body = await fixture.PostOkAsync("/v1/chat/completions",
            """{"model":"gen","max_tokens":2,"user":"u1","store":true,"metadata":{"k":"v"},"service_tier":"auto","prompt_cache_key":"p","safety_identifier":"s","prediction":""" +
            """null,"web_search_options":null,"reasoning_effort":null,"messages":[{"role":"user","content":"x"}]}""");
        Assert.Equal("chat.completion", body.GetProperty("object").GetString());
        body = await fixture.PostOkAsync("/v1/completions", """{"model":"gen","max_tokens":2,"user":"u1","top_logprobs":null,"prompt":"x"}""");
        Assert.Equal("text_completion", body.GetProperty("object").GetString());
    }

    [Fact]
    public async Task Output_fields_that_ask_for_nothing_beyond_text_are_served()
    {
        // What clients send by default for a text answer: no functions, a choice that forces none, text only.
        var body = await fixture.PostOkAsync("/v1/chat/completions",
            """{"model":"gen","max_tokens":2,"functions":[],"function_call":"auto","modalities":["text"],"audio":null,"messages":[{"role":"user","content":"x"}]}""");
        Assert.Equal("chat.completion", body.GetProperty("object").GetString());
    }

    [Fact]
    public async Task An_assistant_turn_with_tool_calls_and_null_content_is_accepted()
    {
        // OpenAI's own clients send the tool-calling turn back this way (content null or absent); an assistant turn with
        // neither content nor tool_calls is refused (see Bad_parameters_are_400_naming_the_parameter), as OpenAI does.
        var (status, body) = await fixture.PostAsync("/v1/chat/completions", """
            {"model":"gen","max_tokens":2,"messages":[
              {"role":"user","content":"pick one"},
              {"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function","function":{"name":"pick","arguments":"{}"}}]},
              {"role":"tool","tool_call_id":"c1","content":"done"},
              {"role":"assistant","tool_calls":[{"id":"c2","type":"function","function":{"name":"pick","arguments":"{}"}}]},
              {"role":"tool","tool_call_id":"c2","content":"done"},
              {"role":"assistant","content":""},
              {"role":"user","content":[{"type":"text","text":"and now?"}]}]}
            """);
        Assert.True(status == HttpStatusCode.OK, $"{(int)status}: {body}");
    }

    [Fact]
    public async Task A_user_message_with_no_parts_is_refused_naming_it_but_an_empty_string_is_served()
    {
        var (status, body) = await fixture.PostAsync("/v1/chat/completions",
            """{"model":"gen","messages":[{"role":"user","content":"hi"},{"role":"assistant","content":"hello"},{"role":"user","content":[]}]}""");
        Assert.Equal(HttpStatusCode.BadRequest, status);
        var error = Error(body);
        Assert.Equal("invalid_request_error", error.GetProperty("type").GetString());
        Assert.Equal("messages[2].content", error.GetProperty("param").GetString());
        Assert.Equal("empty_array", error.GetProperty("code").GetString());

        // OpenAI serves "" (a turn that says nothing), and so do vLLM and Ollama: clients send it. Parts whose texts are
        // all "" say the same, and are served the same.
        var (emptyStatus, emptyBody) = await fixture.PostAsync("/v1/chat/completions", """{"model":"gen","max_tokens":1,"messages":[{"role":"user","content":""}]}""");
        Assert.True(emptyStatus == HttpStatusCode.OK, $"{(int)emptyStatus}: {emptyBody}");
        var (partsStatus, partsBody) = await fixture.PostAsync("/v1/chat/completions",
            """{"model":"gen","max_tokens":1,"messages":[{"role":"user","content":[{"type":"text","text":""},{"type":"text","text":""}]}]}""");
        Assert.True(partsStatus == HttpStatusCode.OK, $"{(int)partsStatus}: {partsBody}");
    }

    [Fact]
    public async Task An_unknown_model_by_route_names_the_model_param_as_by_body()
    {
        using var missing = await fixture.Server.Client.GetAsync("/v1/models/none-such");
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        var byRoute = Error(await missing.Content.ReadAsStringAsync());
        Assert.Equal("model_not_found", byRoute.GetProperty("code").GetString());
        Assert.Equal("invalid_request_error", byRoute.GetProperty("type").GetString());
        Assert.Equal("model", byRoute.GetProperty("param").GetString());

        var (status, body) = await fixture.PostAsync("/v1/embeddings", """{"model":"none-such","input":"x"}""");
        Assert.Equal(HttpStatusCode.NotFound, status);
        Assert.Equal(byRoute.GetProperty("param").GetString(), Error(body).GetProperty("param").GetString());
    }

    [Theory]
    [InlineData("gen/versions/0")]
    [InlineData("gen/versions/latest")]
    [InlineData("gen/v/1")]
    public async Task A_model_name_that_is_no_reference_gets_a_hint_listing_every_form(string model)
    {
        var (status, body) = await fixture.PostAsync("/v1/chat/completions", $$"""{"model":"{{model}}","max_tokens":1,"messages":[{"role":"user","content":"x"}]}""");
        Assert.Equal(HttpStatusCode.NotFound, status);
        var error = Error(body);
        Assert.Equal("model", error.GetProperty("param").GetString());
        var message = error.GetProperty("message").GetString()!;
        foreach (var form in new[] { "'name'", "'name:alias'", "'name/versions/N'", "'tenant/'" })
        {
            Assert.Contains(form, message, StringComparison.Ordinal);
        }

        // The form the hint offers is one the server takes.
        await fixture.PostOkAsync("/v1/chat/completions", """{"model":"gen/versions/1","max_tokens":1,"messages":[{"role":"user","content":"x"}]}""");
    }

    [Fact]
    public async Task Malformed_json_is_400()
    {
        var (status, body) = await fixture.PostAsync("/v1/chat/completions", "{\"model\": ");
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Error(body);
    }

    [SharedModelFact(Tiny)]
    public async Task Models_list_holds_llms_and_their_aliases()
    {
        using var alias = await fixture.Server.Client.PutAsync("/api/v1/models/tiny/aliases/prod", new StringContent("""{"version":1}""", Encoding.UTF8, "application/json"));
        Assert.True(alias.IsSuccessStatusCode, await alias.Content.ReadAsStringAsync());
        var models = fixture.OpenAi.GetOpenAIModelClient();
        OpenAIModelCollection list = await models.GetModelsAsync();
        var ids = list.Select(m => m.Id).ToList();
        Assert.Contains("tiny", ids);
        Assert.Contains("tiny:prod", ids);
        Assert.Contains("gen", ids);
        OpenAIModel one = await models.GetModelAsync("tiny:prod");
        Assert.Equal("tiny:prod", one.Id);

        ChatCompletion viaAlias = await fixture.OpenAi.GetChatClient("tiny:prod")
            .CompleteChatAsync([new UserChatMessage("hi")], new ChatCompletionOptions { MaxOutputTokenCount = 2 });
        Assert.Equal("tiny:prod", viaAlias.Model);
        var (status, _) = await fixture.PostAsync("/v1/models/none-such", "{}");
        Assert.Equal(HttpStatusCode.MethodNotAllowed, status);
        using var missing = await fixture.Server.Client.GetAsync("/v1/models/none-such");
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
    }

    [Fact]
    public async Task More_sequences_than_slots_plus_queue_is_400_not_a_429_that_never_clears()
    {
        // 5 prompts x n=16 = 80 sequences queued at once, on 4 slots and a queue of 64: no retry can ever fit them.
        var prompts = JsonSerializer.Serialize(Enumerable.Range(0, 5).Select(i => $"p{i}"));
        var (status, body) = await fixture.PostAsync("/v1/completions", $$"""{"model":"gen","prompt":{{prompts}},"n":16,"max_tokens":1}""");
        Assert.True(status == HttpStatusCode.BadRequest, $"{(int)status}: {body}");
        var error = Error(body);
        Assert.Equal("too_many_sequences", error.GetProperty("code").GetString());
        Assert.Equal("n", error.GetProperty("param").GetString());
        Assert.Contains("80 sequences", error.GetProperty("message").GetString()!, StringComparison.Ordinal);
        Assert.Contains("at most 68", error.GetProperty("message").GetString()!, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Unknown_v1_routes_and_wrong_methods_answer_in_openai_format()
    {
        var (status, body) = await fixture.PostAsync("/v1/chat/completion", """{"model":"gen"}""");
        Assert.Equal(HttpStatusCode.NotFound, status);
        var error = Error(body);
        Assert.Equal("invalid_request_error", error.GetProperty("type").GetString());
        Assert.Contains("POST /v1/chat/completion", error.GetProperty("message").GetString()!, StringComparison.Ordinal);

        using var get = await fixture.Server.Client.GetAsync("/v1/chat/completions");
        Assert.Equal(HttpStatusCode.MethodNotAllowed, get.StatusCode);
        Assert.Contains("GET /v1/chat/completions", Error(await get.Content.ReadAsStringAsync()).GetProperty("message").GetString()!, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Stream_options_that_is_not_an_object_is_400()
    {
        var (status, body) = await fixture.PostAsync("/v1/chat/completions",
            """{"model":"gen","stream":true,"stream_options":true,"max_tokens":1,"messages":[{"role":"user","content":"x"}]}""");
        Assert.True(status == HttpStatusCode.BadRequest, $"{(int)status}: {body}");
        Assert.Equal("stream_options", Error(body).GetProperty("param").GetString());
    }

    [SharedModelFact(Tiny)]
    public async Task A_full_queue_answers_429_at_once()
    {
        await LlmServerFixture.RegisterAsync(fixture.Server.Client, "one-slot", await File.ReadAllBytesAsync(SharedModels.PathOf(Tiny)), Tiny,
            new { parallel_sequences = 1, queue_limit = 1, context_size = 4096 });
        // The engine is paused while the queue fills, so this generation cannot end first however fast or busy the host
        // (480 tokens ended first once in CI); hanging up below ends it early.
        var busy = new HttpRequestMessage(HttpMethod.Post, "/v1/completions")
        {
            Content = new StringContent("""{"model":"one-slot","prompt":"x","max_tokens":4000,"ignore_eos":true,"stream":true}""", Encoding.UTF8, "application/json"),
        };
        var running = await fixture.Server.Client.SendAsync(busy, HttpCompletionOption.ResponseHeadersRead);
        var reader = new StreamReader(await running.Content.ReadAsStreamAsync());
        await reader.ReadLineAsync(); // the one slot is taken
        using var pause = EnginePause.Of(fixture.Server, "one-slot");

        var waiting = fixture.PostAsync("/v1/completions", """{"model":"one-slot","prompt":"y","max_tokens":1}""");
        // A generous ceiling: on a loaded machine the second request can take many seconds to reach the queue.
        await Conditions.WaitUntilAsync(
            async () => (await fixture.EngineStatisticsAsync("one-slot")).GetProperty("waiting").GetInt32() > 0,
            "the second request reaches the queue",
            TimeSpan.FromSeconds(90));

        var started = DateTime.UtcNow;
        var (status, body) = await fixture.PostAsync("/v1/completions", """{"model":"one-slot","prompt":"z","max_tokens":1}""");
        Assert.Equal(HttpStatusCode.TooManyRequests, status);
        Assert.True(DateTime.UtcNow - started < TimeSpan.FromSeconds(5)); // loose: a busy CI machine is slow, and a queued call would get 200
        var error = Error(body);
        Assert.Equal("requests", error.GetProperty("type").GetString()); // OpenAI's type for a limit on requests
        Assert.Equal("queue_full", error.GetProperty("code").GetString());

        // Hanging up frees the slot for the waiting request.
        Assert.False(waiting.IsCompleted, "the waiting request must wait for the slot");
        pause.Resume();
        reader.Dispose();
        running.Dispose();
        Assert.Equal(HttpStatusCode.OK, (await waiting).Status);
    }

    [SharedModelFact(Tiny)]
    public async Task An_idle_model_unloads_after_its_keep_alive_and_reloads_on_use()
    {
        await LlmServerFixture.RegisterAsync(fixture.Server.Client, "short-lived", await File.ReadAllBytesAsync(SharedModels.PathOf(Tiny)), Tiny, new { keep_alive_seconds = 1 });
        await fixture.PostOkAsync("/v1/completions", """{"model":"short-lived","prompt":"x","max_tokens":1}""");
        Assert.Contains("short-lived", await fixture.Server.Client.GetStringAsync("/api/v1/llm/engines"), StringComparison.Ordinal);

        // Its keep-alive passes on the server's clock; the host's next idle sweep unloads it.
        fixture.Clock.Advance(TimeSpan.FromSeconds(1.5));
        await Conditions.WaitUntilAsync(
            async () => !(await fixture.Server.Client.GetStringAsync("/api/v1/llm/engines")).Contains("short-lived", StringComparison.Ordinal),
            "the idle model unloads");

        await fixture.PostOkAsync("/v1/completions", """{"model":"short-lived","prompt":"x","max_tokens":1}""");
        Assert.Contains("short-lived", await fixture.Server.Client.GetStringAsync("/api/v1/llm/engines"), StringComparison.Ordinal);
    }

    [SharedModelFact(Tiny)]
    public async Task A_model_is_not_unloaded_while_a_request_holds_it()
    {
        await LlmServerFixture.RegisterAsync(fixture.Server.Client, "kept", await File.ReadAllBytesAsync(SharedModels.PathOf(Tiny)), Tiny, new { keep_alive_seconds = 1 });
        // Every request holds a lease on its engine from before it queues until its last byte is sent: hold one
        // the same way, far past the keep-alive.
        var resolved = await fixture.Server.Services.GetRequiredService<LlmModelResolver>().ResolveAsync("kept", CancellationToken.None);
        var manager = fixture.Server.Services.GetRequiredService<LlmEngineManager>();
        using (var lease = await manager.AcquireAsync(resolved.Spec, resolved.KeepAlive, CancellationToken.None))
        {
            var loadedAt = await LoadedAtAsync("kept");
            Assert.NotNull(loadedAt);
            // Far past the keep-alive on the server's clock, and a sweep for idle models after that.
            fixture.Clock.Advance(TimeSpan.FromSeconds(2.5));
            await fixture.Server.Services.GetRequiredService<ModelHost>().UnloadIdleAsync();
            Assert.Equal(loadedAt, await LoadedAtAsync("kept"));
            await fixture.PostOkAsync("/v1/completions", """{"model":"kept","prompt":"x","max_tokens":2}""");
            Assert.Equal(loadedAt, await LoadedAtAsync("kept")); // the same engine served it
        }

        fixture.Clock.Advance(TimeSpan.FromSeconds(1.5));
        await Conditions.WaitUntilAsync(async () => await LoadedAtAsync("kept") is null, "the model unloads once released");
    }

    private async Task<string?> LoadedAtAsync(string model)
    {
        using var doc = JsonDocument.Parse(await fixture.Server.Client.GetStringAsync("/api/v1/llm/engines"));
        return doc.RootElement.EnumerateArray().Where(e => e.GetProperty("model").GetString() == model)
            .Select(e => e.GetProperty("info").GetProperty("loaded_at").GetString()).SingleOrDefault();
    }
}
