using System.Net;
using System.Text.Json;
using Maas.Server.Tests.Support;
using Maas.Server.Tests.TensorInference;
using Maas.Testing;

namespace Maas.Server.Tests.Observability;

public class ReadinessTests
{
    [Fact]
    public async Task Readiness_waits_for_every_load_at_start_model_and_names_the_one_that_failed_to_load()
    {
        using var data = new TempDirectory("maas-ready");
        var settings = new Dictionary<string, string?> { ["Maas:Inference:GrpcUrl"] = "" };
        var model = TestModels.Mlp(4, [8], 3);
        await using (var first = await MaasTestServer.StartAsync(settings: settings, dataDir: data.Path))
        {
            await first.RegisterAsync("must", model, new { load_at_start = true });
            await first.RegisterAsync("lazy", TestModels.Mlp(4, [6], 2));
            var (status, body) = await ReadyAsync(first);
            Assert.True(status == HttpStatusCode.OK, body.ToString()); // marked after start: never holds readiness back
        }

        // The must-load model's file goes missing: the next start cannot load it and must not say ready.
        var artifact = Directory.EnumerateFiles(data.Path, "*", SearchOption.AllDirectories)
            .Single(f => new FileInfo(f).Length == model.Length && File.ReadAllBytes(f).AsSpan().SequenceEqual(model));
        File.Move(artifact, artifact + ".away");
        await using var second = await MaasTestServer.StartAsync(settings: settings, dataDir: data.Path);
        var (notReady, problem) = await WaitForAsync(second, b => b.ToString().Contains("failed to load", StringComparison.Ordinal));
        Assert.Equal(HttpStatusCode.ServiceUnavailable, notReady);
        Assert.Equal("not_ready", problem.GetProperty("status").GetString());
        var models = problem.GetProperty("checks").GetProperty("models").GetString()!;
        Assert.Contains("'must' version 1", models);
        Assert.DoesNotContain("load failed", models); // "failed to load: load failed: ..." it was
        Assert.DoesNotContain("lazy", models);
        Assert.False(problem.GetProperty("checks").TryGetProperty("database", out _), problem.ToString());

        // Without a key, or with a key that is not valid, the probe says not ready and nothing else.
        foreach (var key in new string?[] { null, "maas_not-a-key-anyone-issued-000000000" })
        {
            using var anonymous = second.CreateClient(key);
            foreach (var probe in new[] { "/health/ready", "/health" })
            {
                using var response = await anonymous.GetAsync(probe);
                Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
                Assert.Equal("""{"status":"not_ready"}""", await response.Content.ReadAsStringAsync());
            }
        }

        // Once the file is back and the model loads, the server is ready.
        File.Move(artifact + ".away", artifact);
        (await second.Client.PostAsync("/v2/repository/models/must/load", null)).EnsureSuccessStatusCode();
        var (ready, body2) = await ReadyAsync(second);
        Assert.True(ready == HttpStatusCode.OK, body2.ToString());

        // vLLM's probe, without a key: the same answer.
        using var vllmStyle = second.CreateClient(null);
        using var health = await vllmStyle.GetAsync("/health");
        Assert.Equal(HttpStatusCode.OK, health.StatusCode);
        Assert.Equal("""{"status":"ready"}""", await health.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task A_load_at_start_model_that_loads_makes_the_server_ready()
    {
        using var data = new TempDirectory("maas-ready");
        var settings = new Dictionary<string, string?> { ["Maas:Inference:GrpcUrl"] = "" };
        await using (var first = await MaasTestServer.StartAsync(settings: settings, dataDir: data.Path))
        {
            await first.RegisterAsync("eager", TestModels.Mlp(4, [8], 3), new { load_at_start = true });
        }

        await using var second = await MaasTestServer.StartAsync(settings: settings, dataDir: data.Path);
        var (status, body) = await WaitForAsync(second, b => b.GetProperty("status").GetString() == "ready");
        Assert.True(status == HttpStatusCode.OK, body.ToString());

        // Ready means loaded: the version is READY without any request having touched it.
        var (_, index, _) = await second.Client.PostJsonAsync("/v2/repository/index", "{}");
        Assert.Contains(index.EnumerateArray(), m => m.GetProperty("name").GetString() == "eager" && m.GetProperty("state").GetString() == "READY");
    }

    private static async Task<(HttpStatusCode Status, JsonElement Body)> ReadyAsync(MaasTestServer server)
    {
        using var response = await server.Client.GetAsync("/health/ready");
        return (response.StatusCode, JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone());
    }

    private static Task<(HttpStatusCode Status, JsonElement Body)> WaitForAsync(MaasTestServer server, Func<JsonElement, bool> condition) =>
        Conditions.ReadUntilAsync(() => ReadyAsync(server), result => condition(result.Body), "the readiness probe says so", show: result => result.Body.ToString());
}
