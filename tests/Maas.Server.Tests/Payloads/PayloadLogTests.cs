using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Maas.Core.Formats.Gguf;
using Maas.Server.TensorInference.Grpc.Protocol;
using Maas.Server.Tests.OpenAi;
using Maas.Server.Tests.Support;
using Maas.Testing;
using Microsoft.Extensions.Logging;

namespace Maas.Server.Tests.Payloads;

/// <summary>A server with every log line captured, an ONNX MLP and a generated LLM, each registered twice: payload logging on and off.</summary>
public sealed class PayloadLogFixture : IAsyncLifetime
{
    private readonly TempDirectory _files = new("maas-payload-models");

    public CapturedLogs Logs { get; } = new();

    public MaasTestServer Server { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        var settings = new Dictionary<string, string?>(LlmServerFixture.Settings) { ["Logging:LogLevel:Default"] = "Debug", ["Maas:Inference:GrpcUrl"] = "http://127.0.0.1:0" };
        Server = await MaasTestServer.StartAsync(settings: settings, configure: b => b.Logging.AddProvider(Logs));
        var client = Server.Client;
        var gguf = Path.Combine(_files.Path, "gen.gguf");
        GgufLlamaModelFactory.Write(gguf, new GgufLlamaModelOptions { Name = "maas-payload-llm", Seed = 13 });
        foreach (var logged in new[] { true, false })
        {
            var suffix = logged ? "logged" : "quiet";
            await client.CreateModelAsync($"mlp-{suffix}");
            await Configure(client, $"mlp-{suffix}", logged);
            await client.UploadAsync($"mlp-{suffix}", TestArtifacts.Onnx(seed: 9), "mlp.onnx");
            await client.CreateModelAsync($"llm-{suffix}", """, "task": "text-generation" """);
            await Configure(client, $"llm-{suffix}", logged);
            await client.UploadAsync($"llm-{suffix}", await File.ReadAllBytesAsync(gguf), "gen.gguf");
        }
    }

    public async Task DisposeAsync()
    {
        await Server.DisposeAsync();
        _files.Dispose();
    }

    private static async Task Configure(HttpClient client, string model, bool logged)
    {
        using var response = await client.PutAsJsonAsync($"api/v1/models/{model}/config", new { log_payloads = logged });
        Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync());
    }
}

/// <summary>Payloads reach the logs only for models whose configuration turns it on.</summary>
public sealed class PayloadLogTests(PayloadLogFixture fixture) : IClassFixture<PayloadLogFixture>
{
    private const float Marker = 12345.5f;
    private const string Secret = "zebra-violet-4711";

    [Fact]
    public async Task Inference_inputs_and_outputs_are_logged_for_a_model_that_asks_and_never_otherwise()
    {
        foreach (var suffix in new[] { "logged", "quiet" })
        {
            var body = new JsonObject
            {
                ["inputs"] = new JsonArray(new JsonObject
                {
                    ["name"] = "input",
                    ["datatype"] = "FP32",
                    ["shape"] = new JsonArray(1, 4),
                    ["data"] = new JsonArray(Marker, 1, 2, 3),
                }),
            };
            using var response = await fixture.Server.Client.PostAsJsonAsync($"v2/models/mlp-{suffix}/infer", body);
            await response.JsonAsync(HttpStatusCode.OK);
        }

        var payloads = fixture.Logs.Lines.Where(l => l.Category == "Maas.Payloads").Select(l => l.Message).ToList();
        Assert.Contains(payloads, m => m.Contains("request of mlp-logged", StringComparison.Ordinal) &&
            m.Contains("input FP32[1,4] = [12345.5, 1, 2, 3]", StringComparison.Ordinal));
        Assert.Contains(payloads, m => m.Contains("response of mlp-logged", StringComparison.Ordinal) && m.Contains("output FP32[1,3]", StringComparison.Ordinal));
        Assert.DoesNotContain(fixture.Logs.Lines, l => l.Message.Contains("mlp-quiet", StringComparison.Ordinal) && l.Category == "Maas.Payloads");
        Assert.DoesNotContain(fixture.Logs.Lines, l => l.Message.Contains("12345.5", StringComparison.Ordinal) && !l.Message.Contains("mlp-logged", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Grpc_inference_payloads_are_logged_for_a_model_that_asks_and_never_otherwise()
    {
        // The gRPC listener is a host of its own: its calls must find the main application's payload log too.
        const float GrpcMarker = 67890.25f;
        using var grpc = new TensorInference.GrpcTestClient(TensorInference.InferenceHost.GrpcAddress(fixture.Server));
        foreach (var suffix in new[] { "logged", "quiet" })
        {
            var request = new ModelInferRequest { ModelName = $"mlp-{suffix}" };
            var input = new ModelInferRequest.Types.InferInputTensor { Name = "input", Datatype = "FP32", Contents = new InferTensorContents() };
            input.Shape.Add([1, 4]);
            input.Contents.Fp32Contents.Add([GrpcMarker, 1, 2, 3]);
            request.Inputs.Add(input);
            var answer = await grpc.CallAsync("ModelInfer", request, ModelInferResponse.Parser);
            Assert.Equal(0, answer.Status);
            Assert.Single(answer.Responses);
        }

        var payloads = fixture.Logs.Lines.Where(l => l.Category == "Maas.Payloads").Select(l => l.Message).ToList();
        Assert.Contains(payloads, m => m.Contains("request of mlp-logged", StringComparison.Ordinal) &&
            m.Contains("input FP32[1,4] = [67890.25, 1, 2, 3]", StringComparison.Ordinal));
        Assert.Contains(payloads, m => m.Contains("response of mlp-logged", StringComparison.Ordinal) && m.Contains("output FP32[1,3]", StringComparison.Ordinal));
        Assert.DoesNotContain(fixture.Logs.Lines, l => l.Message.Contains("67890.25", StringComparison.Ordinal) && !l.Message.Contains("mlp-logged", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Chat_prompts_and_answers_are_logged_for_a_model_that_asks_and_never_otherwise()
    {
        var answers = new Dictionary<string, string>();
        foreach (var suffix in new[] { "logged", "quiet" })
        {
            var body = new JsonObject
            {
                ["model"] = $"llm-{suffix}",
                ["messages"] = new JsonArray(new JsonObject { ["role"] = "user", ["content"] = $"my secret is {Secret}" }),
                ["max_tokens"] = 6,
                ["temperature"] = 0,
                ["ignore_eos"] = true,
            };
            using var response = await fixture.Server.Client.PostAsJsonAsync("v1/chat/completions", body);
            var json = await response.JsonAsync(HttpStatusCode.OK);
            answers[suffix] = (string)json["choices"]![0]!["message"]!["content"]!;
        }

        var payloads = fixture.Logs.Lines.Where(l => l.Category == "Maas.Payloads").Select(l => l.Message).ToList();
        Assert.Contains(payloads, m => m.Contains("request of llm-logged", StringComparison.Ordinal) && m.Contains(Secret, StringComparison.Ordinal));
        var answer = System.Text.Json.JsonSerializer.Serialize(new[] { answers["logged"] });
        Assert.Contains(payloads, m => m.Contains("response of llm-logged", StringComparison.Ordinal) && m.Contains(answer, StringComparison.Ordinal));

        // The quiet model's prompt appears nowhere in the logs, in any category.
        Assert.Single(fixture.Logs.Lines, l => l.Message.Contains(Secret, StringComparison.Ordinal));
        Assert.DoesNotContain(payloads, m => m.Contains("llm-quiet", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Embedding_inputs_are_logged_for_a_model_that_asks_and_a_request_without_text_logs_no_empty_entry()
    {
        const string EmbedSecret = "walrus-amber-2291";
        foreach (var suffix in new[] { "logged", "quiet" })
        {
            var body = new JsonObject { ["model"] = $"llm-{suffix}", ["input"] = new JsonArray($"the text is {EmbedSecret}", "and more") };
            using var response = await fixture.Server.Client.PostAsJsonAsync("v1/embeddings", body);
            await response.JsonAsync(HttpStatusCode.OK);
        }

        // Ollama's load-only request: nothing to log, so nothing is logged (no empty "[]" entries).
        using (var load = await fixture.Server.Client.PostAsJsonAsync("api/embed", new JsonObject { ["model"] = "llm-logged" }))
        {
            Assert.Equal(HttpStatusCode.OK, load.StatusCode);
        }

        var payloads = fixture.Logs.Lines.Where(l => l.Category == "Maas.Payloads").Select(l => l.Message).ToList();
        Assert.Contains(payloads, m => m.Contains("request of llm-logged", StringComparison.Ordinal) && m.Contains(EmbedSecret, StringComparison.Ordinal) &&
            m.Contains("and more", StringComparison.Ordinal));
        Assert.Single(fixture.Logs.Lines, l => l.Message.Contains(EmbedSecret, StringComparison.Ordinal));
        Assert.DoesNotContain(payloads, m => m.EndsWith(": []", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Api_keys_never_appear_in_logs_errors_or_metrics()
    {
        var admin = fixture.Server.Client;
        using var created = await admin.PostAsync("api/v1/keys", Api.Json("""{"name": "leak-check", "tenant": "default", "scopes": ["infer", "models:read"]}"""));
        var key = await created.JsonAsync(HttpStatusCode.Created);
        var secret = (string)key["key"]!;
        var wrong = secret[..^6] + "abcdef";
        var seen = new List<string>();
        using (var client = MaasTestServer.CreateClient(fixture.Server.BaseAddress, secret))
        {
            using var ok = await client.GetAsync("v2/models/mlp-quiet");
            Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
            using var forbidden = await client.GetAsync("api/v1/keys");
            seen.Add(await forbidden.Content.ReadAsStringAsync());
        }

        using (var client = MaasTestServer.CreateClient(fixture.Server.BaseAddress, wrong))
        {
            using var refused = await client.GetAsync("v2/models/mlp-quiet");
            Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
            seen.Add(await refused.Content.ReadAsStringAsync());
        }

        using (var revoke = await admin.DeleteAsync($"api/v1/keys/{key["id"]}"))
        {
            Assert.True(revoke.IsSuccessStatusCode);
        }

        using (var client = MaasTestServer.CreateClient(fixture.Server.BaseAddress, secret))
        {
            var status = await Conditions.ReadUntilAsync(
                async () =>
                {
                    using var revoked = await client.GetAsync("v2/models/mlp-quiet");
                    seen.Add(await revoked.Content.ReadAsStringAsync());
                    return revoked.StatusCode;
                },
                s => s == HttpStatusCode.Unauthorized,
                "the revoked key is refused");
            Assert.Equal(HttpStatusCode.Unauthorized, status);
        }

        seen.Add(await admin.GetStringAsync("metrics"));
        seen.Add(await admin.GetStringAsync("api/v1/keys"));
        seen.Add(await admin.GetStringAsync("api/v1/audit"));
        seen.AddRange(fixture.Logs.Lines.Select(l => l.Message));
        Assert.True(fixture.Logs.Lines.Count(l => l.Level == LogLevel.Debug) > 0, "the server logged nothing at debug level: the check would prove nothing");
        foreach (var text in seen)
        {
            foreach (var k in new[] { secret, wrong, MaasTestServer.AdminKey })
            {
                Assert.DoesNotContain(k, text, StringComparison.Ordinal);
                Assert.DoesNotContain(k[^20..], text, StringComparison.Ordinal);
            }
        }
    }
}
