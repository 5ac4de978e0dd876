using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using Maas.Server.Tests.TensorInference;
using Maas.Testing;

namespace Maas.Server.Tests.ModelHosting;

/// <summary>What the placement tests share: generated models of a known size, registration, calls and reads over HTTP.</summary>
internal static class Placement
{
    /// <summary>
    /// An MLP 4 → 2048 → 2048 → 3: about 17 MB of float initializers, distinct per seed; large enough that what the
    /// process allocates around a load (GC, threads) is small beside it.
    /// </summary>
    public static byte[] Model(int seed) => TestModels.Mlp(4, [2048, 2048], 3, seed);

    /// <summary>Creates a model of the caller's tenant (if new) with a serving configuration and uploads a version.</summary>
    public static async Task RegisterAsync(HttpClient client, string name, byte[] onnx, object? config = null)
    {
        var created = await client.PostAsJsonAsync("/api/v1/models", new { name });
        if (created.StatusCode != HttpStatusCode.Conflict)
        {
            await EnsureAsync(created);
        }

        if (config is not null)
        {
            await EnsureAsync(await client.PutAsJsonAsync($"/api/v1/models/{name}/config", config));
        }

        await EnsureAsync(await client.PostAsync($"/api/v1/models/{name}/versions", Support.MaasTestServer.Artifact(onnx, name + ".onnx")));
    }

    /// <summary>One OIP v2 call with a fixed row: its status and, when it succeeded, the output values.</summary>
    public static async Task<(HttpStatusCode Status, float[] Output, JsonElement Body)> InferAsync(HttpClient client, string model)
    {
        var (status, body, _) = await client.PostJsonAsync($"/v2/models/{model}/infer", InferenceHost.InferJson("input", "FP32", [1, 4], new JsonArray(0.5f, -1f, 2f, 0.25f)));
        var output = status == HttpStatusCode.OK
            ? body.GetProperty("outputs")[0].GetProperty("data").EnumerateArray().Select(v => v.GetSingle()).ToArray()
            : [];
        return (status, output, body);
    }

    /// <summary>GET /api/v1/loaded-models.</summary>
    public static async Task<JsonElement> LoadedAsync(HttpClient client)
    {
        var (status, list) = await client.GetJsonAsync("/api/v1/loaded-models");
        Assert.True(status == HttpStatusCode.OK, list.ToString());
        return list;
    }

    /// <summary>The entry of <paramref name="model"/> in a loaded-models list, or null when it is not loaded.</summary>
    public static JsonElement? Entry(JsonElement list, string model) =>
        list.GetProperty("models").EnumerateArray().Where(m => m.GetProperty("model").GetString() == model).Select(m => (JsonElement?)m).SingleOrDefault();

    /// <summary>Polls until <paramref name="condition"/> holds on the loaded-models list (60 s ceiling).</summary>
    public static Task<JsonElement> WaitForAsync(HttpClient client, Func<JsonElement, bool> condition, string what) =>
        Conditions.ReadUntilAsync(() => LoadedAsync(client), condition, what, show: list => list.ToString());

    /// <summary>The sum of a metric's samples whose lines contain every label (0 when none).</summary>
    public static double Sum(string metrics, string metric, params string[] labels) =>
        metrics.Split('\n')
            .Where(l => (l.StartsWith(metric + "{", StringComparison.Ordinal) || l.StartsWith(metric + " ", StringComparison.Ordinal))
                && labels.All(x => l.Contains(x, StringComparison.Ordinal)))
            .Sum(l => double.Parse(l[(l.LastIndexOf(' ') + 1)..], CultureInfo.InvariantCulture));

    /// <summary>True when a metric has any sample.</summary>
    public static bool Has(string metrics, string metric) =>
        metrics.Split('\n').Any(l => l.StartsWith(metric + "{", StringComparison.Ordinal) || l.StartsWith(metric + " ", StringComparison.Ordinal));

    private static async Task EnsureAsync(HttpResponseMessage response)
    {
        if (!response.IsSuccessStatusCode)
        {
            throw new InvalidOperationException($"{(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
        }
    }
}
