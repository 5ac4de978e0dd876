using System.Net;
using System.Text.Json;
using Maas.Core.Tenancy;
using Maas.Server.Deployments;
using Maas.Server.Tests.ModelHosting;
using Maas.Testing;

namespace Maas.Server.Tests.Ollama;

/// <summary>/api/tags, /api/show, /api/ps, /api/version; name:tag; errors in Ollama's shape; keys, scopes, tenants, usage.</summary>
[Collection(OllamaServerCollection.Name)]
public sealed class OllamaModelAndAccessTests(OllamaServerFixture fixture)
{
    private const string Chat = """{"model": "%M", "stream": false, "messages": [{"role": "user", "content": "hi"}], "options": {"num_predict": 2}}""";

    private static string ChatFor(string model) => Chat.Replace("%M", model, StringComparison.Ordinal);

    [Theory]
    [InlineData("gen", "2")]
    [InlineData("gen:latest", "2")]
    [InlineData("gen:stable", "1")]
    [InlineData("gen:1", "1")]
    [InlineData("gen:2", "2")]
    public async Task A_tag_names_an_alias_latest_the_default_and_a_number_a_version(string model, string version)
    {
        using var response = await OllamaServerFixture.PostAsync(fixture.Host.Admin, "/api/chat", ChatFor(model));
        Assert.True(response.StatusCode == HttpStatusCode.OK, await response.Content.ReadAsStringAsync());
        Assert.Equal(version, response.Headers.GetValues(DeploymentRouter.VersionHeader).Single());
        var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
        Assert.Equal(model, body.GetProperty("model").GetString());
    }

    [Theory]
    [InlineData("gen:nope")]
    [InlineData("gen:9")]
    [InlineData("ghost")]
    [InlineData("ghost:latest")]
    [InlineData("Not A Name")]
    public async Task An_unknown_model_or_tag_is_404_in_ollamas_shape(string model)
    {
        foreach (var (path, body) in new[] { ("/api/chat", ChatFor(model)), ("/api/generate", $$"""{"model": "{{model}}", "prompt": "x"}"""), ("/api/embed",
            $$"""{"model": "{{model}}", "input": "x"}"""), ("/api/show", $$"""{"model": "{{model}}"}""") })
        {
            using var response = await OllamaServerFixture.PostAsync(fixture.Host.Admin, path, body);
            var message = await OllamaServerFixture.ErrorAsync(response, HttpStatusCode.NotFound);
            Assert.Contains("not", message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task A_version_tag_the_model_lacks_is_named_as_sent_on_every_route()
    {
        foreach (var (path, body) in new[] { ("/api/chat", ChatFor("gen:9")), ("/api/generate", """{"model": "gen:9", "prompt": "x"}"""), ("/api/embed",
            """{"model": "gen:9", "input": "x"}"""), ("/api/embeddings", """{"model": "gen:9", "prompt": "x"}"""), ("/api/show", """{"model": "gen:9"}""") })
        {
            using var response = await OllamaServerFixture.PostAsync(fixture.Host.Admin, path, body);
            var message = await OllamaServerFixture.ErrorAsync(response, HttpStatusCode.NotFound);
            Assert.Contains("'gen:9'", message, StringComparison.Ordinal);
            Assert.Contains("no version 9", message, StringComparison.Ordinal);
            Assert.DoesNotContain("versions/", message, StringComparison.Ordinal);
        }
    }

    [Theory]
    [InlineData("""{"model": "gen", "messages": [""", "not valid JSON")]
    [InlineData("", "the request body is empty: a JSON object is required")]
    [InlineData(" \n ", "the request body is empty: a JSON object is required")]
    [InlineData("""[1, 2]""", "JSON object")]
    [InlineData("""{"messages": []}""", "model is required")]
    [InlineData("""{"model": "gen", "messages": "hi"}""", "'messages'")]
    [InlineData("""{"model": "gen", "messages": [{"role": "robot", "content": "x"}]}""", "'messages[0].role'")]
    [InlineData("""{"model": "gen", "messages": [{"role": "user", "content": 3}]}""", "'messages[0].content'")]
    [InlineData("""{"model": "gen", "messages": [{"role": "user", "content": "x"}], "options": {"temperature": "hot"}}""", "'options.temperature'")]
    [InlineData("""{"model": "gen", "messages": [{"role": "user", "content": "x"}], "options": {"top_k": 2.5}}""", "'options.top_k'")]
    [InlineData("""{"model": "gen", "messages": [{"role": "user", "content": "x"}], "options": {"num_predict": 0}}""", "'options.num_predict'")]
    [InlineData("""{"model": "gen", "messages": [{"role": "user", "content": "x"}], "options": {"mirostat": 2}}""", "'options.mirostat'")]
    [InlineData("""{"model": "gen", "messages": [{"role": "user", "content": "x"}], "options": {"stop": [1]}}""", "'options.stop'")]
    [InlineData("""{"model": "gen", "messages": [{"role": "user", "content": "x"}], "format": "yaml"}""", "'format'")]
    [InlineData("""{"model": "gen", "messages": [{"role": "user", "content": "x", "images": ["aGk="]}]}""", "images")]
    [InlineData("""{"model": "gen", "messages": [{"role": "user", "content": "x"}], "stream": "yes"}""", "'stream'")]
    public async Task A_bad_chat_body_is_400_in_ollamas_shape_naming_the_field(string body, string expected)
    {
        using var response = await OllamaServerFixture.PostAsync(fixture.Host.Admin, "/api/chat", body);
        var message = await OllamaServerFixture.ErrorAsync(response, HttpStatusCode.BadRequest);
        Assert.Contains(expected, message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Unknown_options_are_ignored_as_ollama_ignores_them()
    {
        var body = await fixture.PostOkAsync("/api/chat", """{"model": "gen", "stream": false, "keep_alive": "5m", "messages": [{"role": "user", "content": "x"}], "options":""" +
            """ {"num_ctx": 8192, "num_gpu": 1, "use_mmap": true, "made_up": "x", "repeat_last_n": -1, "top_k": 40.0, "num_predict": 2}}""");
        Assert.True(body.GetProperty("done").GetBoolean());
    }

    [Fact]
    public async Task Tools_and_a_conversation_with_tool_calls_and_results_are_served()
    {
        const string Body = """
            {"model": "gen", "stream": %S, "options": {"num_predict": 4},
             "tools": [{"type": "function", "function": {"name": "get_weather", "description": "The weather in a city", "parameters": {"type": "object",
             "properties": {"city": {"type": "string"}}, "required": ["city"]}}}],
             "messages": [
               {"role": "user", "content": "Weather in Paris?"},
               {"role": "assistant", "content": "", "tool_calls": [{"function": {"name": "get_weather", "arguments": {"city": "Paris"}}}]},
               {"role": "tool", "tool_name": "get_weather", "content": "sunny, 21 C"}]}
            """;
        var whole = await fixture.PostOkAsync("/api/chat", Body.Replace("%S", "false", StringComparison.Ordinal));
        Assert.True(whole.GetProperty("done").GetBoolean());
        Assert.Equal("assistant", whole.GetProperty("message").GetProperty("role").GetString());
        using var response = await OllamaServerFixture.PostAsync(fixture.Host.Admin, "/api/chat", Body.Replace("%S", "true", StringComparison.Ordinal));
        var lines = await OllamaServerFixture.ReadLinesAsync(response);
        Assert.True(lines[^1].GetProperty("done").GetBoolean());

        // A tool call without a function name is refused where it is.
        using var bad = await OllamaServerFixture.PostAsync(fixture.Host.Admin, "/api/chat",
            """{"model": "gen", "messages": [{"role": "assistant", "content": "", "tool_calls": [{"function": {"arguments": {}}}]}]}""");
        Assert.Contains("messages[0].tool_calls[0]", await OllamaServerFixture.ErrorAsync(bad, HttpStatusCode.BadRequest), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_reply_in_the_tool_call_shape_comes_back_as_tool_calls_with_object_arguments()
    {
        // The random model calls a tool only when made to: a format in the shape the tool instructions ask for.
        const string Body = """
            {"model": "gen", "stream": %S, "options": {"num_predict": 160, "temperature": 0},
             "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
             "required": ["city"]}}}],
             "format": {"type": "object", "additionalProperties": false, "required": ["tool_calls"], "properties": {"tool_calls": {"type": "array", "minItems": 1, "maxItems": 1,
             "items": {
               "type": "object", "additionalProperties": false, "required": ["name", "arguments"], "properties": {"name": {"enum": ["get_weather"]},
               "arguments": {"type": "object", "additionalProperties": false, "required": ["city"], "properties": {"city": {"type": "string", "maxLength": 4}}}}}}}},
             "messages": [{"role": "user", "content": "Weather in Paris?"}]}
            """;
        var whole = await fixture.PostOkAsync("/api/chat", Body.Replace("%S", "false", StringComparison.Ordinal));
        var message = whole.GetProperty("message");
        Assert.Equal("", message.GetProperty("content").GetString());
        var call = Assert.Single(message.GetProperty("tool_calls").EnumerateArray()).GetProperty("function");
        Assert.Equal("get_weather", call.GetProperty("name").GetString());
        Assert.Equal(JsonValueKind.String, call.GetProperty("arguments").GetProperty("city").ValueKind);
        Assert.Equal("stop", whole.GetProperty("done_reason").GetString());

        // Streamed: the reply is held back, then the calls come in a line of their own before the last.
        using var response = await OllamaServerFixture.PostAsync(fixture.Host.Admin, "/api/chat", Body.Replace("%S", "true", StringComparison.Ordinal));
        var lines = await OllamaServerFixture.ReadLinesAsync(response);
        Assert.Equal(2, lines.Count);
        Assert.False(lines[0].GetProperty("done").GetBoolean());
        Assert.Equal(call.GetRawText(), Assert.Single(lines[0].GetProperty("message").GetProperty("tool_calls").EnumerateArray()).GetProperty("function").GetRawText());
        Assert.True(lines[1].GetProperty("done").GetBoolean());
    }

    [Fact]
    public async Task Embed_truncates_an_input_past_the_context_unless_told_not_to()
    {
        var input = string.Concat(Enumerable.Repeat("word ", 700));
        var cut = await fixture.PostOkAsync("/api/embed", JsonSerializer.Serialize(new { model = "gen", input }));
        Assert.Single(cut.GetProperty("embeddings").EnumerateArray());
        Assert.Equal(512, cut.GetProperty("prompt_eval_count").GetInt64());

        using var response = await OllamaServerFixture.PostAsync(fixture.Host.Admin, "/api/embed", JsonSerializer.Serialize(new { model = "gen", input, truncate = false }));
        Assert.Contains("512", await OllamaServerFixture.ErrorAsync(response, HttpStatusCode.BadRequest), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_prompt_past_the_context_is_400_with_the_limit()
    {
        var prompt = string.Concat(Enumerable.Repeat("word ", 700));
        using var response = await OllamaServerFixture.PostAsync(fixture.Host.Admin, "/api/generate", JsonSerializer.Serialize(new { model = "gen", prompt, raw = true }));
        var message = await OllamaServerFixture.ErrorAsync(response, HttpStatusCode.BadRequest);
        Assert.Contains("512", message, StringComparison.Ordinal);

        // num_predict past the context is refused with the numbers, as max_tokens on /v1.
        using var tooMany = await OllamaServerFixture.PostAsync(fixture.Host.Admin, "/api/chat",
            """{"model": "gen", "messages": [{"role": "user", "content": "x"}], "options": {"num_predict": 3000}}""");
        var refusal = await OllamaServerFixture.ErrorAsync(tooMany, HttpStatusCode.BadRequest);
        Assert.Contains("3000", refusal, StringComparison.Ordinal);
        Assert.Contains("512", refusal, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Unknown_routes_and_wrong_methods_answer_in_ollamas_shape()
    {
        using (var response = await OllamaServerFixture.PostAsync(fixture.Host.Admin, "/api/pull", """{"model": "llama3"}"""))
        {
            Assert.Contains("/api/chat", await OllamaServerFixture.ErrorAsync(response, HttpStatusCode.NotFound), StringComparison.Ordinal);
        }

        using (var response = await fixture.Host.Admin.GetAsync("/api/chat"))
        {
            await OllamaServerFixture.ErrorAsync(response, HttpStatusCode.MethodNotAllowed);
        }

        // The management API keeps its own error shape.
        using (var response = await fixture.Host.Admin.GetAsync("/api/v1/no-such-route"))
        {
            var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
            Assert.Equal(JsonValueKind.Object, body.GetProperty("error").ValueKind);
        }
    }

    [Fact]
    public async Task Tags_show_ps_and_version_describe_the_models()
    {
        // Loaded: a call of version 1 (through its alias) and one of version 2.
        await fixture.PostOkAsync("/api/chat", ChatFor("gen:stable"));
        await fixture.PostOkAsync("/api/chat", ChatFor("gen"));

        var tags = JsonDocument.Parse(await fixture.Host.Admin.GetStringAsync("/api/tags")).RootElement.GetProperty("models").EnumerateArray().ToList();
        var latest = tags.Single(t => t.GetProperty("name").GetString() == "gen:latest");
        var stable = tags.Single(t => t.GetProperty("name").GetString() == "gen:stable");
        Assert.Equal("gen:latest", latest.GetProperty("model").GetString());
        Assert.NotEqual(latest.GetProperty("digest").GetString(), stable.GetProperty("digest").GetString());
        Assert.Matches("^[0-9a-f]{64}$", latest.GetProperty("digest").GetString()!);
        Assert.True(latest.GetProperty("size").GetInt64() > 0);
        _ = DateTimeOffset.Parse(latest.GetProperty("modified_at").GetString()!, System.Globalization.CultureInfo.InvariantCulture);
        var details = latest.GetProperty("details");
        Assert.Equal("gguf", details.GetProperty("format").GetString());
        Assert.Equal("llama", details.GetProperty("family").GetString());
        Assert.NotEmpty(details.GetProperty("parameter_size").GetString()!);
        Assert.NotEmpty(details.GetProperty("quantization_level").GetString()!);

        var show = await fixture.PostOkAsync("/api/show", """{"model": "gen:stable"}""");
        Assert.Equal("llama", show.GetProperty("model_info").GetProperty("general.architecture").GetString());
        Assert.True(show.GetProperty("model_info").GetProperty("llama.context_length").GetInt64() > 0);
        Assert.Equal("num_ctx 512", show.GetProperty("parameters").GetString());
        Assert.Contains("im_start", show.GetProperty("template").GetString(), StringComparison.Ordinal);
        Assert.Equal("gguf", show.GetProperty("details").GetProperty("format").GetString());
        Assert.Contains("completion", show.GetProperty("capabilities").EnumerateArray().Select(c => c.GetString()));
        // The older field name still works.
        Assert.Equal("llama", (await fixture.PostOkAsync("/api/show", """{"name": "gen"}""")).GetProperty("details").GetProperty("family").GetString());

        var ps = JsonDocument.Parse(await fixture.Host.Admin.GetStringAsync("/api/ps")).RootElement.GetProperty("models").EnumerateArray().ToList();
        var names = ps.Select(m => m.GetProperty("name").GetString()).ToList();
        Assert.Contains("gen:1", names);
        Assert.Contains("gen:2", names);
        var loaded = ps.Single(m => m.GetProperty("name").GetString() == "gen:1");
        Assert.Equal(stable.GetProperty("digest").GetString(), loaded.GetProperty("digest").GetString());
        Assert.True(DateTimeOffset.Parse(loaded.GetProperty("expires_at").GetString()!, System.Globalization.CultureInfo.InvariantCulture) > DateTimeOffset.UtcNow.AddMinutes(-1));
        Assert.Equal(512, loaded.GetProperty("context_length").GetInt32());

        var version = JsonDocument.Parse(await fixture.Host.Admin.GetStringAsync("/api/version")).RootElement;
        Assert.Matches(@"^\d+\.\d+\.\d+$", version.GetProperty("version").GetString()!);
    }

    [Fact]
    public async Task Keys_scopes_and_tenants_apply_and_usage_is_recorded_as_ollama()
    {
        var host = fixture.Host;
        using (var anonymous = host.Client(null))
        {
            using var response = await OllamaServerFixture.PostAsync(anonymous, "/api/chat", ChatFor("gen"));
            Assert.Contains("API key", await OllamaServerFixture.ErrorAsync(response, HttpStatusCode.Unauthorized), StringComparison.Ordinal);
            using var tags = await anonymous.GetAsync("/api/tags");
            await OllamaServerFixture.ErrorAsync(tags, HttpStatusCode.Unauthorized);
        }

        // A key that reads models may list them, not generate.
        var (_, readSecret) = await host.CreateKeyAsync(Tenant.DefaultName, [MaasScopes.ModelsRead]);
        using (var reader = host.Client(readSecret))
        {
            using var tags = await reader.GetAsync("/api/tags");
            Assert.Equal(HttpStatusCode.OK, tags.StatusCode);
            using var chat = await OllamaServerFixture.PostAsync(reader, "/api/chat", ChatFor("gen"));
            Assert.Contains("infer", await OllamaServerFixture.ErrorAsync(chat, HttpStatusCode.Forbidden), StringComparison.Ordinal);
        }

        // Another tenant's key does not see the default tenant's private model: 404, and not in its list.
        var (_, _, stranger) = await host.TenantWithKeyAsync(MaasScopes.Infer);
        using (stranger)
        {
            using var chat = await OllamaServerFixture.PostAsync(stranger, "/api/chat", ChatFor("gen:stable"));
            await OllamaServerFixture.ErrorAsync(chat, HttpStatusCode.NotFound);
            var tags = JsonDocument.Parse(await stranger.GetStringAsync("/api/tags")).RootElement.GetProperty("models");
            Assert.Equal(0, tags.GetArrayLength());
            var ps = JsonDocument.Parse(await stranger.GetStringAsync("/api/ps")).RootElement.GetProperty("models");
            Assert.DoesNotContain(ps.EnumerateArray(), m => m.GetProperty("name").GetString()!.Contains("gen", StringComparison.Ordinal));
        }

        // An infer key's calls are recorded with their tokens, under protocol "ollama".
        var (keyId, inferSecret) = await host.CreateKeyAsync(Tenant.DefaultName, [MaasScopes.Infer]);
        long completion;
        using (var client = host.Client(inferSecret))
        {
            var answer = await fixture.PostOkAsync("/api/chat", ChatFor("gen"), client);
            completion = answer.GetProperty("eval_count").GetInt64();
            await fixture.PostOkAsync("/api/embed", """{"model": "gen", "input": "count me"}""", client);
        }

        var totals = await Conditions.ReadUntilAsync(() => host.UsageTotalsAsync($"key={keyId}"), t => (long?)t["requests"] >= 2, "both calls are in the usage table");
        Assert.Equal(2, (long?)totals["requests"]);
        Assert.Equal(completion, (long?)totals["completion_tokens"]);
        Assert.True((long?)totals["prompt_tokens"] > 2);
        await Conditions.ReadUntilAsync(
            () => host.Admin.GetStringAsync("/metrics"),
            metrics => Placement.Sum(metrics, "maas_request_duration_seconds_count", "protocol=\"ollama\"", "route=\"/api/chat\"") >= 1,
            "the Ollama calls in /metrics under protocol \"ollama\"");
    }
}
