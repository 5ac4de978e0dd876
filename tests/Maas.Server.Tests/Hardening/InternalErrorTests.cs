using System.Text;
using System.Text.Json;
using Maas.Core.Formats.Gguf;
using Maas.Server.Tests.OpenAi;
using Maas.Server.Tests.Support;

namespace Maas.Server.Tests.Hardening;

/// <summary>The server's own failures reach the caller as a request id, never as an exception's message (engine text, file paths).</summary>
public sealed class InternalErrorTests
{
    [Fact]
    public async Task A_model_whose_stored_file_broke_answers_with_the_request_id_and_no_details()
    {
        await using var server = await MaasTestServer.StartAsync(settings: LlmServerFixture.Settings);
        using var stream = new MemoryStream();
        GgufLlamaModelFactory.Write(stream, new GgufLlamaModelOptions { Name = "maas-test-llm", Seed = 7 });
        var gguf = stream.ToArray();
        await LlmServerFixture.RegisterAsync(server.Client, "broken", gguf, "broken.gguf");

        // The stored copy goes bad behind the server's back (a disk fault, an operator's mistake).
        var stored = Directory.EnumerateFiles(server.DataDir, "*", SearchOption.AllDirectories)
            .Where(f => new FileInfo(f).Length == gguf.Length).ToList();
        Assert.NotEmpty(stored);
        foreach (var file in stored)
        {
            var bytes = new byte[gguf.Length];
            gguf.AsSpan(0, 64).CopyTo(bytes); // a GGUF header followed by nothing sensible
            await File.WriteAllBytesAsync(file, bytes);
        }

        using var response = await server.Client.PostAsync(
            "/v1/chat/completions",
            new StringContent("""{"model":"broken","max_tokens":2,"messages":[{"role":"user","content":"hi"}]}""", Encoding.UTF8, "application/json"));
        var text = await response.Content.ReadAsStringAsync();
        Assert.True((int)response.StatusCode >= 500, text);
        var message = JsonDocument.Parse(text).RootElement.GetProperty("error").GetProperty("message").GetString()!;
        var requestId = response.Headers.GetValues("X-Request-Id").Single();
        Assert.Contains(requestId, message, StringComparison.Ordinal);
        Assert.DoesNotContain(server.DataDir, message, StringComparison.Ordinal);
        Assert.DoesNotContain("llama", message, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain(".gguf", message, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task An_onnx_model_whose_stored_file_broke_says_it_failed_to_load_without_the_servers_paths()
    {
        await using var server = await TensorInference.InferenceHost.StartAsync();
        var onnx = TestArtifacts.Onnx(seed: 5);
        await TensorInference.InferenceHost.RegisterAsync(server, "broken-onnx", onnx);
        foreach (var file in Directory.EnumerateFiles(server.DataDir, "*", SearchOption.AllDirectories).Where(f => new FileInfo(f).Length == onnx.Length))
        {
            var bytes = new byte[onnx.Length];
            onnx.AsSpan(0, 16).CopyTo(bytes); // the start of a model followed by zeros: ONNX Runtime cannot parse it
            await File.WriteAllBytesAsync(file, bytes);
        }

        var body = """{"inputs":[{"name":"input","shape":[1,4],"datatype":"FP32","data":[1,2,3,4]}]}""";
        foreach (var route in new[] { "/v2/models/broken-onnx/infer", "/api/v1/models/broken-onnx/predict" })
        {
            using var response = await server.Client.PostAsync(route,
                new StringContent(route.EndsWith("/predict", StringComparison.Ordinal) ? """{"inputs":{"input":[[1,2,3,4]]}}""" : body, Encoding.UTF8, "application/json"));
            var text = await response.Content.ReadAsStringAsync();
            Assert.True((int)response.StatusCode == 503, $"{route}: {(int)response.StatusCode} {text}");
            Assert.Contains("failed to load", text, StringComparison.Ordinal);
            Assert.DoesNotContain(server.DataDir, text, StringComparison.Ordinal);
            Assert.DoesNotContain("/artifacts", text, StringComparison.Ordinal);
        }

        // Readiness and the loaded-models list (keys may read them) say the same without the paths.
        using var loaded = await server.Client.GetAsync("/api/v1/loaded-models");
        Assert.DoesNotContain(server.DataDir, await loaded.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }
}
