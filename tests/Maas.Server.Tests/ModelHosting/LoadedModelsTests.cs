using System.Globalization;
using System.Text.Json;
using Maas.Core.Formats.Gguf;
using Maas.Server.Tests.OpenAi;
using Maas.Server.Tests.Support;
using Maas.Server.Tests.TensorInference;
using Maas.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace Maas.Server.Tests.ModelHosting;

/// <summary>One model host for both engines: loaded models with their measured memory in /api/v1/loaded-models and in metrics.</summary>
public sealed class LoadedModelsTests
{
    [Fact]
    public async Task Loaded_models_of_both_engines_are_listed_with_their_memory_and_labelled_by_engine_in_metrics()
    {
        using var files = new TempDirectory("maas-loaded-models");
        var settings = new Dictionary<string, string?>(LlmServerFixture.Settings) { ["Maas:Inference:GrpcUrl"] = "" };
        await using var server = await MaasTestServer.StartAsync(settings: settings);
        var onnx = TestModels.Mlp(4, [256, 256], 3);
        await server.RegisterAsync("tensor", onnx);
        var gguf = Path.Combine(files.Path, "words.gguf");
        GgufLlamaModelFactory.Write(gguf, new GgufLlamaModelOptions { Name = "maas-test-llm", Seed = 7 });
        await LlmServerFixture.RegisterAsync(server.Client, "words", await File.ReadAllBytesAsync(gguf), "words.gguf");

        var (_, before) = await server.Client.GetJsonAsync("/api/v1/loaded-models");
        Assert.DoesNotContain(before.GetProperty("models").EnumerateArray(), m => m.GetProperty("model").GetString() is "tensor" or "words");

        (await server.Client.PostJsonAsync("/v2/models/tensor/infer",
            InferenceHost.InferJson("input", "FP32", [1, 4], new System.Text.Json.Nodes.JsonArray(0.1f, 0.2f, 0.3f, 0.4f)))).Response.EnsureSuccessStatusCode();
        (await server.Client.PostJsonAsync("/v1/completions", """{"model":"words","prompt":"x","max_tokens":1}""")).Response.EnsureSuccessStatusCode();

        var (status, list) = await server.Client.GetJsonAsync("/api/v1/loaded-models");
        Assert.Equal(200, (int)status);
        Assert.True(list.GetProperty("memory_budget_bytes").GetInt64() > 0, list.ToString()); // a share of the machine by default
        var tensor = Single(list, "tensor");
        var words = Single(list, "words");
        Assert.Equal(("onnxruntime", "ready", 1), (tensor.GetProperty("engine").GetString(), tensor.GetProperty("state").GetString(), tensor.GetProperty("version").GetInt32()));
        Assert.Equal(("llama.cpp", "ready"), (words.GetProperty("engine").GetString(), words.GetProperty("state").GetString()));

        // The budget charges at least the file; llama.cpp maps the GGUF (file-backed pages) and counts its own buffers.
        Assert.True(tensor.GetProperty("memory").GetProperty("accounted_bytes").GetInt64() >= onnx.Length, tensor.ToString());
        var llm = words.GetProperty("memory");
        Assert.True(llm.GetProperty("accounted_bytes").GetInt64() >= new FileInfo(gguf).Length, words.ToString());
        Assert.True(llm.GetProperty("mapped_file_bytes").GetInt64() > 0, words.ToString());
        Assert.True(llm.GetProperty("engine_bytes").GetInt64() > 0, words.ToString());
        Assert.True(list.GetProperty("accounted_bytes").GetInt64() >= onnx.Length + new FileInfo(gguf).Length, list.ToString());

        var metrics = await server.Client.GetStringAsync("/metrics");
        Assert.Equal(1, Sample(metrics, "maas_model_state", "engine=\"onnxruntime\"", "model=\"tensor\"", "state=\"ready\""));
        Assert.Equal(1, Sample(metrics, "maas_model_state", "engine=\"llama.cpp\"", "model=\"words\"", "state=\"ready\""));
        Assert.True(Sample(metrics, "maas_model_memory_bytes", "engine=\"llama.cpp\"", "model=\"words\"", "kind=\"mapped_file\"") > 0, metrics);
        Assert.Equal(
            llm.GetProperty("accounted_bytes").GetInt64(),
            Sample(metrics, "maas_model_memory_bytes", "engine=\"llama.cpp\"", "model=\"words\"", "kind=\"accounted\""));
        Assert.Equal(1, Sample(metrics, "maas_models_loaded", "engine=\"llama.cpp\""));

        // Engine instances come from the host for every engine, labelled by the engine that loaded the version, and
        // an unloaded version of any engine reports 0 instead of leaving the family.
        Assert.Equal(1, Sample(metrics, "maas_model_instances", "engine=\"onnxruntime\"", "model=\"tensor\""));
        Assert.Equal(1, Sample(metrics, "maas_model_instances", "engine=\"llama.cpp\"", "model=\"words\""));
        var (unloadStatus, unloaded, _) = await server.Client.PostJsonAsync("/api/v1/loaded-models/words/versions/1:unload", "");
        Assert.True(unloadStatus == System.Net.HttpStatusCode.OK, unloaded.ToString());
        var after = await server.Client.GetStringAsync("/metrics");
        Assert.Equal(0, Sample(after, "maas_model_instances", "engine=\"llama.cpp\"", "model=\"words\""));
        Assert.Equal(1, Sample(after, "maas_model_state", "engine=\"llama.cpp\"", "model=\"words\"", "state=\"unavailable\""));
        Assert.Equal(1, Sample(after, "maas_model_instances", "engine=\"onnxruntime\"", "model=\"tensor\""));
    }

    [Fact]
    public async Task A_pinned_model_loads_at_start_and_stays_loaded_past_its_keep_alive()
    {
        using var data = new TempDirectory("maas-pinned");
        var settings = new Dictionary<string, string?> { ["Maas:Inference:GrpcUrl"] = "", ["Maas:Hosting:IdleSweepMs"] = "50" };
        await using (var first = await MaasTestServer.StartAsync(settings: settings, dataDir: data.Path))
        {
            await first.RegisterAsync("kept", TestModels.Mlp(4, [8], 3), new { pinned = true, keep_alive_seconds = 1 });
            await first.RegisterAsync("brief", TestModels.Mlp(4, [8], 3), new { keep_alive_seconds = 1 });
        }

        var clock = new AdjustableClock();
        await using var second = await MaasTestServer.StartAsync(settings: settings, dataDir: data.Path, configure: builder => builder.Services.AddSingleton<TimeProvider>(clock));
        (await second.Client.PostJsonAsync("/v2/models/brief/infer",
            InferenceHost.InferJson("input", "FP32", [1, 4], new System.Text.Json.Nodes.JsonArray(1f, 2f, 3f, 4f)))).Response.EnsureSuccessStatusCode();

        // "brief" goes after its second without requests (which passes on the server's clock); "kept" loaded without
        // any request and outlives it.
        clock.Advance(TimeSpan.FromSeconds(1.5));
        var list = await Placement.WaitForAsync(
            second.Client,
            l => !l.GetProperty("models").EnumerateArray().Any(m => m.GetProperty("model").GetString() == "brief"),
            "the unpinned model unloads after its keep-alive");

        var kept = Single(list, "kept");
        Assert.Equal(("ready", true), (kept.GetProperty("state").GetString(), kept.GetProperty("pinned").GetBoolean()));
    }

    private static JsonElement Single(JsonElement list, string model) =>
        list.GetProperty("models").EnumerateArray().Single(m => m.GetProperty("model").GetString() == model);

    private static double Sample(string text, string metric, params string[] labels) =>
        text.Split('\n')
            .Where(l => l.StartsWith(metric + "{", StringComparison.Ordinal) && labels.All(x => l.Contains(x, StringComparison.Ordinal)))
            .Select(l => double.Parse(l[(l.LastIndexOf(' ') + 1)..], CultureInfo.InvariantCulture))
            .Single();
}
