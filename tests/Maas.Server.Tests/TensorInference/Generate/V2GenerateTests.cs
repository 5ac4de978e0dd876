using System.Net;
using System.Text;
using System.Text.Json;
using Maas.Core.Formats.Gguf;
using Maas.Core.Llm;
using Maas.Core.Tenancy;
using Maas.Runtimes.Llama.Serving;
using Maas.Server.Deployments;
using Maas.Server.Tests.ModelHosting;
using Maas.Server.Tests.OpenAi;
using Maas.Server.Tests.Support;
using Maas.Server.Tests.Tenancy;
using Maas.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace Maas.Server.Tests.TensorInference.Generate;

/// <summary>
/// One real server for the generate extension tests: "gen" has two versions (generated GGUFs, alias "stable" on 1), and
/// an ONNX model sits beside it.
/// </summary>
public sealed class V2GenerateFixture : IAsyncLifetime
{
    public const string Model = "gen";

    private readonly TempDirectory _files = new("maas-v2-generate-models");

    public TenancyHost Host { get; private set; } = null!;

    public string TensorModel { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Host = await TenancyHost.StartAsync(LlmServerFixture.Settings);
        for (var version = 1; version <= 2; version++)
        {
            var path = Path.Combine(_files.Path, $"gen{version}.gguf");
            GgufLlamaModelFactory.Write(path, new GgufLlamaModelOptions { Name = "maas-test-llm", Seed = (ulong)(20 + version) });
            await LlmServerFixture.RegisterAsync(Host.Admin, Model, await File.ReadAllBytesAsync(path), "gen.gguf");
        }

        using var alias = await Host.Admin.PutAsync($"/api/v1/models/{Model}/aliases/stable", Api.Json("""{"version": 1}"""));
        Assert.True(alias.IsSuccessStatusCode, await alias.Content.ReadAsStringAsync());
        TensorModel = await Host.Admin.CreateModelAsync();
        await Host.Admin.UploadAsync(TensorModel, TestArtifacts.Onnx(1), "model.onnx");
    }

    public async Task DisposeAsync()
    {
        await Host.DisposeAsync();
        _files.Dispose();
    }

    public static Task<HttpResponseMessage> PostAsync(HttpClient client, string path, string json) =>
        client.PostAsync(path, new StringContent(json, Encoding.UTF8, "application/json"));

    /// <summary>POSTs to generate, expects 200 with one JSON object, and parses it.</summary>
    public async Task<JsonElement> GenerateAsync(string path, string json, HttpClient? client = null)
    {
        using var response = await PostAsync(client ?? Host.Admin, path, json);
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{(int)response.StatusCode}: {body}");
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        return JsonDocument.Parse(body).RootElement.Clone();
    }

    /// <summary>POSTs to generate_stream, expects 200 with SSE, and returns each event's JSON object in order.</summary>
    public async Task<List<JsonElement>> StreamAsync(string path, string json, HttpClient? client = null)
    {
        using var response = await PostAsync(client ?? Host.Admin, path, json);
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal("utf-8", response.Content.Headers.ContentType?.CharSet);
        var events = new List<JsonElement>();
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
        while (await reader.ReadLineAsync() is { } line)
        {
            if (line.Length == 0)
            {
                continue;
            }

            Assert.StartsWith("data: ", line, StringComparison.Ordinal);
            events.Add(JsonDocument.Parse(line[6..]).RootElement.Clone());
        }

        return events;
    }

    /// <summary>Asserts the protocol's error, <c>{"error": "message"}</c>, with the status, and returns the message.</summary>
    public static async Task<string> ErrorAsync(HttpResponseMessage response, HttpStatusCode status)
    {
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == status, $"expected {(int)status}, got {(int)response.StatusCode}: {text}");
        var body = JsonDocument.Parse(text).RootElement;
        Assert.Equal(JsonValueKind.String, body.GetProperty("error").ValueKind);
        return body.GetProperty("error").GetString()!;
    }
}

/// <summary>POST /v2/models/{model}[/versions/{version}]/generate and generate_stream for GGUF models.</summary>
public sealed class V2GenerateTests(V2GenerateFixture fixture) : IClassFixture<V2GenerateFixture>
{
    private const string Path = "/v2/models/gen/generate";
    private const string StreamPath = "/v2/models/gen/generate_stream";

    [Fact]
    public async Task Generate_answers_whole_and_the_stream_in_pieces_that_add_up_to_it()
    {
        const string request = """{"text_input": "Once upon a time", "parameters": {"max_tokens": 10, "temperature": 0.9, "seed": 42, "stream": true}}""";
        var whole = await fixture.GenerateAsync(Path, request);
        Assert.Equal(["model_name", "model_version", "text_output"], whole.EnumerateObject().Select(p => p.Name).Order().ToArray());
        Assert.Equal("gen", whole.GetProperty("model_name").GetString());
        Assert.Equal("2", whole.GetProperty("model_version").GetString());
        var text = whole.GetProperty("text_output").GetString()!;
        Assert.NotEmpty(text);

        var events = await fixture.StreamAsync(StreamPath, request);
        Assert.True(events.Count >= 2, $"{events.Count} events");
        foreach (var e in events)
        {
            Assert.Equal("gen", e.GetProperty("model_name").GetString());
            Assert.Equal("2", e.GetProperty("model_version").GetString());
        }

        Assert.Equal(text, string.Concat(events.Select(e => e.GetProperty("text_output").GetString())));
    }

    [Fact]
    public async Task The_answer_is_the_raw_completion_of_v1_completions_and_max_tokens_bounds_it()
    {
        // Same prompt, seed and bound on /v1/completions: no chat template on either, so the same text.
        var generated = await fixture.GenerateAsync(Path, """{"text_input": "The sky is", "parameters": {"max_tokens": 3, "temperature": 0.7, "seed": 9}}""");
        using var v1 = await V2GenerateFixture.PostAsync(fixture.Host.Admin, "/v1/completions",
            """{"model": "gen", "prompt": "The sky is", "max_tokens": 3, "temperature": 0.7, "seed": 9}""");
        var completion = JsonDocument.Parse(await v1.Content.ReadAsStringAsync()).RootElement;
        Assert.Equal(HttpStatusCode.OK, v1.StatusCode);
        Assert.Equal(completion.GetProperty("choices")[0].GetProperty("text").GetString(), generated.GetProperty("text_output").GetString());
        Assert.Equal(3, completion.GetProperty("usage").GetProperty("completion_tokens").GetInt32());

        var longer = await fixture.GenerateAsync(Path, """{"text_input": "The sky is", "parameters": {"max_tokens": 12, "temperature": 0.7, "seed": 9}}""");
        Assert.StartsWith(generated.GetProperty("text_output").GetString()!, longer.GetProperty("text_output").GetString()!, StringComparison.Ordinal);
        var streamed = await fixture.StreamAsync(StreamPath, """{"text_input": "The sky is", "max_tokens": 3, "temperature": 0.7, "seed": 9}""");
        Assert.True(streamed.Count(e => e.GetProperty("text_output").GetString()!.Length > 0) <= 3);
    }

    [Fact]
    public async Task Stop_cuts_the_answer_before_the_stop_string()
    {
        var full = (await fixture.GenerateAsync(Path, """{"text_input": "Numbers:", "parameters": {"max_tokens": 16, "temperature": 0}}""")).GetProperty("text_output")
            .GetString()!;
        Assert.True(full.Length >= 4, $"'{full}'");
        var stop = full.Substring(full.Length / 2, 2);
        var expected = full[..full.IndexOf(stop, StringComparison.Ordinal)];
        foreach (var stopJson in new[] { JsonSerializer.Serialize(stop), JsonSerializer.Serialize(new[] { stop, "\u0001never" }) })
        {
            var cut = await fixture.GenerateAsync(Path, $$$"""{"text_input": "Numbers:", "parameters": {"max_tokens": 16, "temperature": 0, "stop": {{{stopJson}}}}}""");
            Assert.Equal(expected, cut.GetProperty("text_output").GetString());
            var events = await fixture.StreamAsync(StreamPath, $$$"""{"text_input": "Numbers:", "parameters": {"max_tokens": 16, "temperature": 0, "stop": {{{stopJson}}}}}""");
            Assert.Equal(expected, string.Concat(events.Select(e => e.GetProperty("text_output").GetString())));

            // TensorRT-LLM's clients: stop words are stop strings, and empty banned words are nothing asked.
            var words = await fixture.GenerateAsync(Path,
                $$$"""{"text_input": "Numbers:", "max_tokens": 16, "bad_words": "", "stop_words": {{{stopJson}}}, "parameters": {"temperature": 0}}""");
            Assert.Equal(expected, words.GetProperty("text_output").GetString());
        }

        var unstopped = await fixture.GenerateAsync(Path, """{"text_input": "Numbers:", "max_tokens": 16, "bad_words": [], "stop_words": "", "parameters": {"temperature": 0}}""");
        Assert.Equal(full, unstopped.GetProperty("text_output").GetString());
    }

    [Theory]
    [InlineData("/v2/models/gen/versions/1/generate", "1")]
    [InlineData("/v2/models/gen/versions/2/generate", "2")]
    [InlineData("/v2/models/gen/versions/stable/generate", "1")]
    [InlineData("/v2/models/gen/versions/1/generate_stream", "1")]
    public async Task A_version_or_alias_in_the_path_picks_the_version(string path, string version)
    {
        using var response = await V2GenerateFixture.PostAsync(fixture.Host.Admin, path, """{"text_input": "hi", "parameters": {"max_tokens": 2}}""");
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, text);
        Assert.Equal(version, response.Headers.GetValues(DeploymentRouter.VersionHeader).Single());
        var first = path.EndsWith("_stream", StringComparison.Ordinal) ? text.Split('\n')[0][6..] : text;
        Assert.Equal(version, JsonDocument.Parse(first).RootElement.GetProperty("model_version").GetString());
    }

    [Theory]
    [InlineData("/v2/models/ghost/generate", """{"text_input": "x"}""", HttpStatusCode.NotFound, "ghost")]
    [InlineData("/v2/models/gen/versions/9/generate", """{"text_input": "x"}""", HttpStatusCode.NotFound, "9")]
    [InlineData("/v2/models/ghost/generate_stream", """{"text_input": "x"}""", HttpStatusCode.NotFound, "ghost")]
    [InlineData(Path, """{"text_input": """, HttpStatusCode.BadRequest, "JSON")]
    [InlineData(Path, """["x"]""", HttpStatusCode.BadRequest, "JSON object")]
    [InlineData(Path, """{"parameters": {}}""", HttpStatusCode.BadRequest, "text_input")]
    [InlineData(Path, """{"text_input": 3}""", HttpStatusCode.BadRequest, "text_input")]
    [InlineData(Path, """{"text_input": ""}""", HttpStatusCode.BadRequest, "text_input")]
    [InlineData(Path, """{"text_input": "x", "parameters": [1]}""", HttpStatusCode.BadRequest, "parameters")]
    [InlineData(Path, """{"text_input": "x", "parameters": {"max_tokens": 0}}""", HttpStatusCode.BadRequest, "'max_tokens' must be an integer between 1 and")]
    [InlineData(Path, """{"text_input": "x", "parameters": {"max_tokens": -1}}""", HttpStatusCode.BadRequest, "'max_tokens' must be an integer between 1 and")]
    [InlineData(Path, """{"text_input": "x", "max_tokens": 99999999999}""", HttpStatusCode.BadRequest, "'max_tokens' must be an integer between 1 and")]
    [InlineData(Path, """{"text_input": "x", "parameters": {"max_tokens": "many"}}""", HttpStatusCode.BadRequest, "max_tokens")]
    [InlineData(Path, """{"text_input": "x", "parameters": {"temperature": 7}}""", HttpStatusCode.BadRequest, "temperature")]
    [InlineData(Path, """{"text_input": "x", "parameters": {"stop": [1]}}""", HttpStatusCode.BadRequest, "stop")]
    [InlineData(Path, """{"text_input": "x", "parameters": {"stream": "yes"}}""", HttpStatusCode.BadRequest, "stream")]
    [InlineData(Path, """{"text_input": "x", "parameters": {"beam_width": 2}}""", HttpStatusCode.BadRequest, "parameters.beam_width")]
    [InlineData(Path, """{"text_input": "x", "bad_words": ["a"]}""", HttpStatusCode.BadRequest, "bad_words")]
    [InlineData(Path, """{"text_input": "x", "stop_words": ["a"], "parameters": {"stop": "b"}}""", HttpStatusCode.BadRequest, "stop_words")]
    [InlineData(Path, """{"text_input": "x", "stop_words": [1]}""", HttpStatusCode.BadRequest, "stop")]
    [InlineData(Path, """{"text_input": "x", "parameters": {"max_tokens": 100000000}}""", HttpStatusCode.BadRequest, "max_tokens")]
    public async Task Bad_calls_are_4xx_in_the_protocols_error_shape(string path, string body, HttpStatusCode status, string mentioned)
    {
        using var response = await V2GenerateFixture.PostAsync(fixture.Host.Admin, path, body);
        var message = await V2GenerateFixture.ErrorAsync(response, status);
        Assert.Contains(mentioned, message, StringComparison.Ordinal);
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
    }

    [Fact]
    public async Task An_onnx_model_is_400_naming_infer()
    {
        foreach (var route in new[] { "generate", "generate_stream" })
        {
            using var response = await V2GenerateFixture.PostAsync(fixture.Host.Admin, $"/v2/models/{fixture.TensorModel}/{route}", """{"text_input": "x"}""");
            var message = await V2GenerateFixture.ErrorAsync(response, HttpStatusCode.BadRequest);
            Assert.Contains($"/v2/models/{fixture.TensorModel}/infer", message, StringComparison.Ordinal);
            Assert.Contains("is an ONNX model", message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Infer_on_a_gguf_model_points_at_generate()
    {
        using var response = await V2GenerateFixture.PostAsync(fixture.Host.Admin, "/v2/models/gen/infer",
            """{"inputs": [{"name": "x", "datatype": "FP32", "shape": [1], "data": [1]}]}""");
        var message = await V2GenerateFixture.ErrorAsync(response, HttpStatusCode.BadRequest);
        Assert.Contains("POST /v2/models/gen/generate", message, StringComparison.Ordinal);
        Assert.Contains("/v1/chat/completions", message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_failure_mid_stream_ends_the_stream_with_an_error_event_in_the_protocols_shape()
    {
        const string request = """{"text_input": "Once upon a time", "parameters": {"max_tokens": 10, "temperature": 0.9, "seed": 42}}""";
        await fixture.GenerateAsync(Path, request); // loaded, and known to run past its first token

        // The engine's step after the one that produced the first token fails, as a failing decode would.
        var loaded = fixture.Host.Server.Services.GetRequiredService<LlmEngineManager>().Loaded().Single(e => e.Name == V2GenerateFixture.Model && e.Version == 2);
        var engine = Assert.IsType<LlamaEngine>(loaded.Engine);
        engine.FailAfterSteps(1, new InvalidOperationException("injected decode failure"));

        using var response = await V2GenerateFixture.PostAsync(fixture.Host.Admin, StreamPath, request);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);

        // The whole stream reads to its end (not a connection cut short): text events, then one error event last.
        var events = (await response.Content.ReadAsStringAsync())
            .Split("\n\n", StringSplitOptions.RemoveEmptyEntries)
            .Select(e => JsonDocument.Parse(Assert.Single(e.Split('\n'), l => l.StartsWith("data: ", StringComparison.Ordinal))["data: ".Length..]).RootElement.Clone())
            .ToList();
        var last = events[^1];
        Assert.Equal(["error"], last.EnumerateObject().Select(p => p.Name));
        Assert.Contains("the server failed to answer", last.GetProperty("error").GetString(), StringComparison.Ordinal);
        Assert.DoesNotContain("injected", last.GetProperty("error").GetString(), StringComparison.Ordinal); // details stay in the log
        Assert.All(events[..^1], e => Assert.NotEmpty(e.GetProperty("text_output").GetString()!));

        // The engine goes on serving.
        Assert.NotEmpty((await fixture.GenerateAsync(Path, request)).GetProperty("text_output").GetString()!);
    }

    [Fact]
    public async Task Keys_scopes_and_tenants_apply_and_usage_and_metrics_are_recorded()
    {
        var host = fixture.Host;
        const string request = """{"text_input": "hello", "parameters": {"max_tokens": 3}}""";
        using (var anonymous = host.Client(null))
        {
            using var response = await V2GenerateFixture.PostAsync(anonymous, Path, request);
            Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        }

        var (_, readSecret) = await host.CreateKeyAsync(Tenant.DefaultName, [MaasScopes.ModelsRead]);
        using (var reader = host.Client(readSecret))
        {
            foreach (var path in new[] { Path, StreamPath })
            {
                using var response = await V2GenerateFixture.PostAsync(reader, path, request);
                Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
                Assert.Contains("infer", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
            }
        }

        // Another tenant does not see the default tenant's private model: 404, as for a model that does not exist.
        var (_, _, stranger) = await host.TenantWithKeyAsync(MaasScopes.Infer);
        using (stranger)
        {
            foreach (var path in new[] { Path, StreamPath, "/v2/models/gen/versions/1/generate" })
            {
                using var response = await V2GenerateFixture.PostAsync(stranger, path, request);
                await V2GenerateFixture.ErrorAsync(response, HttpStatusCode.NotFound);
            }
        }

        var (keyId, inferSecret) = await host.CreateKeyAsync(Tenant.DefaultName, [MaasScopes.Infer]);
        using (var client = host.Client(inferSecret))
        {
            await fixture.GenerateAsync(Path, request, client);
            await fixture.StreamAsync(StreamPath, request, client);
        }

        var totals = await Conditions.ReadUntilAsync(() => host.UsageTotalsAsync($"key={keyId}"), t => (long?)t["requests"] >= 2, "both calls are in the usage table");
        Assert.Equal(2, (long?)totals["requests"]);
        Assert.True((long?)totals["prompt_tokens"] >= 2);
        Assert.True((long?)totals["completion_tokens"] is > 0 and <= 6);
        await Conditions.ReadUntilAsync(
            () => host.Admin.GetStringAsync("/metrics"),
            metrics => Placement.Sum(metrics, "maas_request_duration_seconds_count", "protocol=\"oip-rest\"", "route=\"/v2/models/{model}/generate_stream\"") >= 1
                && Placement.Sum(metrics, "maas_request_duration_seconds_count", "protocol=\"oip-rest\"", "route=\"/v2/models/{model}/generate\"") >= 1,
            "the generate calls in /metrics under protocol \"oip-rest\"");
    }
}
