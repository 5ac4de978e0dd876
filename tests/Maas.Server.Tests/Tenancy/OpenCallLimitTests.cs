using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Threading.Channels;
using Google.Protobuf;
using Maas.Core.Tenancy;
using Maas.Server.TensorInference.Grpc.Protocol;
using Maas.Server.Tests.Support;
using Maas.Server.Tests.TensorInference;
using Microsoft.Extensions.DependencyInjection;
using static Maas.Testing.Conditions;

namespace Maas.Server.Tests.Tenancy;

/// <summary>Limits hold for the whole life of a call: every message of a gRPC stream is admitted like a request.</summary>
public sealed class OpenCallLimitTests
{
    [Fact]
    public async Task Every_message_of_a_grpc_stream_counts_against_the_rate_limit()
    {
        await using var host = await TenancyHost.StartAsync(new Dictionary<string, string?> { ["Maas:Inference:GrpcUrl"] = "http://127.0.0.1:0" });
        var tenant = await host.CreateTenantAsync();
        var (_, key) = await host.CreateKeyAsync(tenant, [MaasScopes.Infer], limits: """{"requests_per_minute": 3}""");
        using var grpc = new GrpcTestClient(host.Server.GrpcAddress(), key);
        var messages = Enumerable.Range(0, 5).Select(_ => new ModelInferRequest { ModelName = "no-such-model" }.ToByteArray()).ToArray();

        var stream = await grpc.CallRawAsync("ModelStreamInfer", messages, ModelStreamInferResponse.Parser);

        Assert.Equal(0, stream.Status);
        Assert.Equal(5, stream.Responses.Count);
        Assert.All(stream.Responses.Take(3), r => Assert.Contains("does not exist", r.ErrorMessage, StringComparison.Ordinal));
        Assert.All(stream.Responses.Skip(3), r => Assert.Contains("requests_per_minute = 3", r.ErrorMessage, StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_grpc_stream_is_held_to_the_compute_budget_message_by_message()
    {
        await using var host = await TenancyHost.StartAsync(new Dictionary<string, string?> { ["Maas:Inference:GrpcUrl"] = "http://127.0.0.1:0" });
        var tenant = await host.CreateTenantAsync();
        (await host.Admin.PostAsync("api/v1/models",
            Api.Json("""{"name": "budgeted", "owner": "TENANT"}""".Replace("TENANT", tenant, StringComparison.Ordinal)))).EnsureSuccessStatusCode();
        // The model lives in the tenant's namespace: the admin names it tenant/budgeted.
        (await host.Admin.PutAsJsonAsync($"api/v1/models/{tenant}%2Fbudgeted/config", new { max_batch_size = 0, threads = 1 })).EnsureSuccessStatusCode();
        (await host.Admin.PostAsync($"api/v1/models/{tenant}%2Fbudgeted/versions",
            MaasTestServer.Artifact(TestModels.Mlp(512, [4096], 512, seed: 5), "budgeted.onnx"))).EnsureSuccessStatusCode();
        var (_, key) = await host.CreateKeyAsync(tenant, [MaasScopes.Infer], limits: """{"daily_compute_seconds": 0.02}""");
        using var grpc = new GrpcTestClient(host.Server.GrpcAddress(), key);

        // Each message is about 4 GFLOP (512 rows): far over 20 ms of compute on any machine.
        var message = new ModelInferRequest { ModelName = "budgeted" };
        var input = new ModelInferRequest.Types.InferInputTensor { Name = "input", Datatype = "FP32" };
        input.Shape.Add([512, 512]);
        message.Inputs.Add(input);
        message.RawInputContents.Add(ByteString.CopyFrom(new byte[512 * 512 * 4]));
        var stream = await grpc.CallRawAsync("ModelStreamInfer", [message.ToByteArray(), message.ToByteArray(), message.ToByteArray()], ModelStreamInferResponse.Parser);

        Assert.Equal(0, stream.Status);
        Assert.Equal(3, stream.Responses.Count);
        Assert.Equal("", stream.Responses[0].ErrorMessage);
        Assert.All(stream.Responses.Skip(1), r => Assert.Contains("daily_compute_seconds = 0.02", r.ErrorMessage, StringComparison.Ordinal));

        // Counted once in all: the call's usage record carries the first message's compute, and the budget holds it.
        using var again = new GrpcTestClient(host.Server.GrpcAddress(), key);
        var refused = await again.CallAsync("ModelInfer", message, ModelInferResponse.Parser);
        Assert.Equal(8, refused.Status);
        Assert.Contains("daily_compute_seconds", refused.Message, StringComparison.Ordinal);
    }

    // The key is re-checked every 200 ms here; "within a few seconds" is asserted with a generous ceiling.
    private static readonly Dictionary<string, string?> RevocationSettings = new()
    {
        ["Maas:Inference:GrpcUrl"] = "http://127.0.0.1:0",
        ["Maas:Auth:OpenCallCheckMs"] = "200",
    };

    private static readonly TimeSpan FewSeconds = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task A_revoked_key_ends_its_open_grpc_stream_with_unauthenticated()
    {
        await using var host = await TenancyHost.StartAsync(RevocationSettings);
        var tenant = await host.CreateTenantAsync();
        var (id, key) = await host.CreateKeyAsync(tenant, [MaasScopes.Infer]);
        using var http = new HttpClient(new SocketsHttpHandler()) { BaseAddress = host.Server.GrpcAddress(), Timeout = Timeout.InfiniteTimeSpan };
        var outgoing = Channel.CreateUnbounded<byte[]>();
        using var request = new HttpRequestMessage(HttpMethod.Post, "/inference.GRPCInferenceService/ModelStreamInfer")
        {
            Version = HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Content = new ChannelContent(outgoing.Reader),
        };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/grpc");
        request.Headers.TE.ParseAdd("trailers");
        request.Headers.TryAddWithoutValidation("authorization", "Bearer " + key);
        var message = new ModelInferRequest { ModelName = "no-such-model" }.ToByteArray();
        await outgoing.Writer.WriteAsync(GrpcFrames.Frame(message));
        using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        await using var stream = await response.Content.ReadAsStreamAsync();
        var first = ModelStreamInferResponse.Parser.ParseFrom(await GrpcFrames.ReadFrameAsync(stream));
        Assert.Contains("does not exist", first.ErrorMessage, StringComparison.Ordinal); // the stream is open and answering

        Assert.Equal(HttpStatusCode.NoContent, (await host.Admin.DeleteAsync($"api/v1/keys/{id}")).StatusCode);
        var watch = Stopwatch.StartNew();
        using var ceiling = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var rest = new byte[1024];
        while (await stream.ReadAsync(rest, ceiling.Token) > 0)
        {
        }

        Assert.True(watch.Elapsed < FewSeconds, $"the stream ended {watch.Elapsed} after the revocation");
        Assert.Equal("16", response.TrailingHeaders.GetValues("grpc-status").Single()); // UNAUTHENTICATED
        Assert.Contains("revoked", Uri.UnescapeDataString(response.TrailingHeaders.GetValues("grpc-message").Single()), StringComparison.Ordinal);
        outgoing.Writer.Complete();
    }

    [Fact]
    public async Task A_revoked_key_ends_its_open_upload()
    {
        await using var host = await TenancyHost.StartAsync(RevocationSettings);
        var tenant = await host.CreateTenantAsync();
        var (id, key) = await host.CreateKeyAsync(tenant, [MaasScopes.ModelsWrite, MaasScopes.ModelsRead]);
        using var client = host.Client(key);
        var model = await client.CreateModelAsync();
        var session = await (await client.PostAsync($"api/v1/models/{model}/uploads",
            Api.Json("""{"filename": "model.onnx", "size": 1048576}"""))).JsonAsync(HttpStatusCode.Created);

        // A chunk whose body the client keeps open: 64 KiB sent, the rest held back.
        var outgoing = Channel.CreateUnbounded<byte[]>();
        using var patch = new HttpRequestMessage(HttpMethod.Patch, $"api/v1/uploads/{session["id"]}") { Content = new ChannelContent(outgoing.Reader) };
        patch.Content.Headers.ContentType = new MediaTypeHeaderValue("application/offset+octet-stream");
        patch.Content.Headers.ContentLength = 1048576;
        patch.Headers.TryAddWithoutValidation("Upload-Offset", "0");
        await outgoing.Writer.WriteAsync(new byte[64 << 10]);
        var sending = client.SendAsync(patch);
        var opened = host.Server.Services.GetRequiredService<Maas.Server.Auth.OpenCalls>();
        await WaitUntilAsync(() => opened.Count == 1);

        Assert.Equal(HttpStatusCode.NoContent, (await host.Admin.DeleteAsync($"api/v1/keys/{id}")).StatusCode);
        var watch = Stopwatch.StartNew();
        await WaitUntilAsync(() => opened.Count == 0);
        Assert.True(watch.Elapsed < FewSeconds, $"the upload ended {watch.Elapsed} after the revocation");

        // The client, still uploading, finds its connection closed.
        for (var i = 0; i < 240 && !sending.IsCompleted; i++)
        {
            await outgoing.Writer.WriteAsync(new byte[4096]);
            await Task.WhenAny(sending, Task.Delay(50));
        }

        var ended = await Record.ExceptionAsync(() => sending.WaitAsync(TimeSpan.FromSeconds(60)));
        Assert.True(ended is HttpRequestException or IOException, $"the upload was not cut off: {ended?.GetType().Name ?? "it completed"}");
        outgoing.Writer.Complete();

        // Bytes sent after the revocation were not stored (those before it stay, as for any interrupted chunk).
        var state = await (await host.Admin.GetAsync($"api/v1/uploads/{session["id"]}")).JsonAsync(HttpStatusCode.OK);
        Assert.True((long)state["offset"]! <= 64 << 10, $"offset {state["offset"]}");
    }

    [Fact]
    public async Task A_revoked_key_ends_its_open_chat_stream()
    {
        var settings = new Dictionary<string, string?>(RevocationSettings);
        foreach (var (name, value) in Maas.Server.Tests.OpenAi.LlmServerFixture.Settings)
        {
            settings[name] = value;
        }

        await using var host = await TenancyHost.StartAsync(settings);
        var tenant = await host.CreateTenantAsync();
        using var files = new TempDirectory("maas-revoke-stream");
        var gguf = Path.Combine(files.Path, "gen.gguf");
        Maas.Core.Formats.Gguf.GgufLlamaModelFactory.Write(gguf, new Maas.Core.Formats.Gguf.GgufLlamaModelOptions { Name = "maas-test-llm", Seed = 7 });
        (await host.Admin.PostAsync("api/v1/models", Api.Json($$"""{"name": "talker", "owner": "{{tenant}}", "task": "text-generation"}"""))).EnsureSuccessStatusCode();
        (await host.Admin.PutAsJsonAsync($"api/v1/models/{tenant}%2Ftalker/config", new { parallel_sequences = 1, context_size = 4200 })).EnsureSuccessStatusCode();
        (await host.Admin.PostAsync($"api/v1/models/{tenant}%2Ftalker/versions",
            MaasTestServer.Artifact(await File.ReadAllBytesAsync(gguf), "gen.gguf"))).EnsureSuccessStatusCode();
        var (id, key) = await host.CreateKeyAsync(tenant, [MaasScopes.Infer]);
        using var client = host.Client(key);
        client.Timeout = Timeout.InfiniteTimeSpan;

        // A generation that would run for thousands of tokens; the first chunk shows it is under way.
        using var request = new HttpRequestMessage(HttpMethod.Post, "v1/chat/completions")
        {
            Content = Api.Json("""{"model": "talker", "stream": true, "max_tokens": 4000, "ignore_eos": true, "messages": [{"role": "user", "content": "talk"}]}"""),
        };
        using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        await using var stream = await response.Content.ReadAsStreamAsync();
        using var reader = new StreamReader(stream);
        Assert.StartsWith("data: ", await reader.ReadLineAsync());

        // Paused from here, the generation cannot finish before the revocation cuts it off, however fast the host.
        using var pause = EnginePause.Of(host.Server, $"{tenant}/talker");
        Assert.Equal(HttpStatusCode.NoContent, (await host.Admin.DeleteAsync($"api/v1/keys/{id}")).StatusCode);
        var watch = Stopwatch.StartNew();
        var rest = await Record.ExceptionAsync(async () =>
        {
            using var ceiling = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            while (await reader.ReadLineAsync(ceiling.Token) is { } line)
            {
                Assert.NotEqual("data: [DONE]", line); // cut off, not finished
            }
        });

        Assert.True(rest is null or IOException or HttpRequestException, $"the stream did not end as a cut-off: {rest}");
        Assert.True(watch.Elapsed < FewSeconds, $"the stream ended {watch.Elapsed} after the revocation");
        pause.Resume();
        var opened = host.Server.Services.GetRequiredService<Maas.Server.Auth.OpenCalls>();
        await WaitUntilAsync(() => opened.Count == 0);
    }
}
