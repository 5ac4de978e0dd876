using System.Globalization;
using System.Net;
using Maas.Server.Tests.Support;
using static Maas.Testing.Conditions;

namespace Maas.Server.Tests.ModelHosting;

/// <summary>Serving configuration changed while a version is loaded and called: what serves follows the last change.</summary>
public sealed class ConfigReloadTests
{
    private const string Input = """{"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": [0.5, -1.25, 2.0, 0.75]}]}""";

    private static async Task<double> InstancesAsync(HttpClient client, string model, int version)
    {
        var metrics = await client.GetStringAsync("metrics");
        var line = metrics.Split('\n').Single(l => l.StartsWith("maas_model_instances{", StringComparison.Ordinal)
            && l.Contains($"model=\"{model}\"", StringComparison.Ordinal) && l.Contains($"version=\"{version}\"", StringComparison.Ordinal));
        return double.Parse(line[(line.LastIndexOf(' ') + 1)..], CultureInfo.InvariantCulture);
    }

    [Fact]
    public async Task Configuration_changes_one_right_after_another_leave_the_loaded_versions_on_the_last_one_and_lose_no_call()
    {
        await using var server = await MaasTestServer.StartAsync();
        var client = server.Client;
        var model = await client.CreateModelAsync();
        await client.UploadAsync(model, TestArtifacts.Onnx(1), "model.onnx");
        await client.UploadAsync(model, TestArtifacts.Onnx(2), "model.onnx");
        foreach (var version in new[] { 1, 2 })
        {
            using var loaded = await client.PostAsync($"v2/models/{model}/versions/{version}/infer", Api.Json(Input));
            Assert.Equal(HttpStatusCode.OK, loaded.StatusCode);
        }

        // Calls keep coming while the versions reload: none may fail or wait on a half-loaded instance.
        var failures = new List<string>();
        long answered = 0;
        using var stop = new CancellationTokenSource();
        var callers = Enumerable.Range(0, 4).Select(i => Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                using var response = await client.PostAsync($"v2/models/{model}/versions/{1 + (i % 2)}/infer", Api.Json(Input));
                if (response.StatusCode != HttpStatusCode.OK)
                {
                    var text = await response.Content.ReadAsStringAsync();
                    lock (failures)
                    {
                        failures.Add($"{(int)response.StatusCode}: {text}");
                    }
                }

                Interlocked.Increment(ref answered);
            }
        })).ToArray();

        // Each change reloads the loaded versions; the second came while the first's reloads ran, and the version
        // reloaded first used to keep the first change's settings (reported config 3, served with 2 instances).
        foreach (var (first, last) in new[] { (2, 3), (4, 1), (3, 2) })
        {
            using (var r = await client.PutAsync($"api/v1/models/{model}/config", Api.Json($$"""{"instance_count": {{first}}}""")))
            {
                Assert.Equal(HttpStatusCode.OK, r.StatusCode);
            }

            using (var r = await client.PutAsync($"api/v1/models/{model}/config", Api.Json($$"""{"instance_count": {{last}}}""")))
            {
                Assert.Equal(HttpStatusCode.OK, r.StatusCode);
            }

            await WaitUntilAsync(
                async () => await InstancesAsync(client, model, 1) == last && await InstancesAsync(client, model, 2) == last,
                $"both versions serve with instance_count {last}, as the model's configuration says",
                TimeSpan.FromSeconds(15));
        }

        var before = Interlocked.Read(ref answered);
        await WaitUntilAsync(() => Interlocked.Read(ref answered) > before + 8, "calls go on after the last reload");
        await stop.CancelAsync();
        await Task.WhenAll(callers);
        Assert.True(failures.Count == 0, string.Join("\n", failures));
        Assert.Equal("""{"instance_count":2}""", await client.GetStringAsync($"api/v1/models/{model}/config"));
    }
}
