using System.Diagnostics;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Maas.Core.Formats.Onnx;

namespace Maas.Bench;

/// <summary>
/// More models than fit: N generated MLPs (about 17 MB of weights each) under a memory budget for about N/3 of them,
/// called one request at a time in a skewed (Zipf, s = 1) order. Reports the eviction policy's hit rate, the latency a
/// miss adds (the request waits for an eviction and a load) against a hit, and the server's resident size against the
/// budget, twice in one run: with room made for a reload's measured load peak (the default) and for what the model
/// keeps only (Maas:Hosting:ReserveLoadPeak=false), on the same request sequence. Writes bench/results/eviction.json;
/// the docs section is written by hand from it.
/// </summary>
internal static class EvictionScenario
{
    private const int Models = 12;
    private const int Requests = 600;
    private const double ZipfS = 1.0;

    // Freed large blocks go back to the system at once, so resident size follows the loaded models (see configuration.md).
    private static readonly Dictionary<string, string> Malloc = new() { ["MALLOC_MMAP_THRESHOLD_"] = "131072" };

    public static async Task RunAsync(BenchOptions options)
    {
        var loadAtStart = ScenarioResults.LoadAverage();
        var models = Enumerable.Range(0, Models).Select(i => OnnxModelWriter.Mlp(4, [2048, 2048], 3, seed: 100 + i).ToBytes()).ToArray();

        // A first server measures what one model takes once loaded; the budget is set from that.
        long perModel;
        await using (var probe = await ServerProcess.StartAsync(options, null, [], Malloc))
        {
            await RegisterAsync(probe, "warm", OnnxModelWriter.Mlp(4, [8], 3, seed: 1).ToBytes());
            await RegisterAsync(probe, "m0", models[0]);
            await InferAsync(probe, "warm");
            await InferAsync(probe, "m0");
            perModel = ModelAccounted(await LoadedAsync(probe), "m0");
        }

        var budget = perModel * Models / 3;
        var numbers = new Dictionary<string, double>
        {
            ["models"] = Models,
            ["requests"] = Requests,
            ["file_mb_per_model"] = models[0].Length / 1e6,
            ["measured_mb_per_model"] = perModel / 1e6,
            ["budget_mb"] = budget / 1e6,
            ["load_average_1m_at_start"] = loadAtStart,
        };
        var modes = new (string Name, bool ReservePeak)[] { ("peak_reserved", true), ("kept_size_only", false) };
        foreach (var (name, reservePeak) in modes)
        {
            Console.WriteLine($"eviction: {name} (Maas:Hosting:ReserveLoadPeak={reservePeak})");
            foreach (var (key, value) in await RunModeAsync(options, models, budget, reservePeak))
            {
                numbers[$"{name}.{key}"] = value;
            }
        }

        // The trade in one run: what reserving the load peak costs in hits and saves in resident size.
        numbers["hit_rate_ratio_peak_reserved_vs_kept_size_only"] = numbers["peak_reserved.hit_rate"] / numbers["kept_size_only.hit_rate"];
        numbers["rss_peak_over_base_ratio_peak_reserved_vs_kept_size_only"] = numbers["peak_reserved.rss_peak_over_base_mb"] / numbers["kept_size_only.rss_peak_over_base_mb"];
        await ScenarioResults.ReportAsync(options, "eviction", numbers);
    }

    private static async Task<Dictionary<string, double>> RunModeAsync(BenchOptions options, byte[][] models, long budget, bool reservePeak)
    {
        await using var server = await ServerProcess.StartAsync(
            options, null, [$"--Maas:Hosting:MemoryBudgetBytes={budget}", $"--Maas:Hosting:ReserveLoadPeak={(reservePeak ? "true" : "false")}"], Malloc);
        await RegisterAsync(server, "warm", OnnxModelWriter.Mlp(4, [8], 3, seed: 1).ToBytes());
        for (var i = 0; i < Models; i++)
        {
            await RegisterAsync(server, $"m{i}", models[i]);
        }

        await InferAsync(server, "warm"); // maps ONNX Runtime's library before the baseline is taken
        GC.Collect();
        var rssBase = server.PeakRss(reset: true);

        // Resident size sampled every 5 ms for its peak, while the requests run.
        using var sampling = new CancellationTokenSource();
        var sampler = Task.Run(async () =>
        {
            while (!sampling.IsCancellationRequested)
            {
                server.PeakRss(reset: false);
                await Task.Delay(5);
            }
        });

        // The same seed in every mode: the same request sequence.
        var random = new Random(42);
        var weights = Enumerable.Range(1, Models).Select(k => 1 / Math.Pow(k, ZipfS)).ToArray();
        var total = weights.Sum();
        var hits = new List<double>();
        var misses = new List<double>();
        long maxAccounted = 0;
        var loadsBefore = (await LoadedAsync(server)).GetProperty("loads").GetInt64();
        for (var r = 0; r < Requests; r++)
        {
            var pick = random.NextDouble() * total;
            var k = 0;
            while (pick > weights[k] && k < Models - 1)
            {
                pick -= weights[k];
                k++;
            }

            var started = Stopwatch.GetTimestamp();
            await InferAsync(server, $"m{k}");
            var ms = Stopwatch.GetElapsedTime(started).TotalMilliseconds;

            // One request at a time: it missed when the server loaded a model while it ran.
            var list = await LoadedAsync(server);
            var loads = list.GetProperty("loads").GetInt64();
            (loads > loadsBefore ? misses : hits).Add(ms);
            loadsBefore = loads;
            maxAccounted = Math.Max(maxAccounted, list.GetProperty("accounted_bytes").GetInt64());
        }

        await sampling.CancelAsync();
        await sampler;
        var rssPeak = server.PeakRss(reset: false);
        var final = await LoadedAsync(server);
        return new Dictionary<string, double>
        {
            ["hit_rate"] = (double)hits.Count / Requests,
            ["evictions"] = final.GetProperty("evictions").GetInt64(),
            ["hit_p50_ms"] = ScenarioResults.Percentile(hits, 0.5),
            ["hit_p99_ms"] = ScenarioResults.Percentile(hits, 0.99),
            ["miss_p50_ms"] = ScenarioResults.Percentile(misses, 0.5),
            ["miss_p99_ms"] = ScenarioResults.Percentile(misses, 0.99),
            ["accounted_max_mb"] = maxAccounted / 1e6,
            ["rss_base_mb"] = rssBase / 1e6,
            ["rss_peak_mb"] = rssPeak / 1e6,
            ["rss_peak_over_base_mb"] = (rssPeak - rssBase) / 1e6,
            ["rss_end_mb"] = final.GetProperty("process_resident_bytes").GetInt64() / 1e6,
        };
    }

    private static async Task RegisterAsync(ServerProcess server, string name, byte[] onnx)
    {
        (await server.Client.PostAsJsonAsync("/api/v1/models", new { name })).EnsureSuccessStatusCode();
        var content = new ByteArrayContent(onnx);
        content.Headers.ContentType = new("application/octet-stream");
        content.Headers.Add("X-Maas-Filename", name + ".onnx");
        (await server.Client.PostAsync($"/api/v1/models/{name}/versions", content)).EnsureSuccessStatusCode();
    }

    private static async Task InferAsync(ServerProcess server, string name)
    {
        const string body = """{"inputs":[{"name":"input","shape":[1,4],"datatype":"FP32","data":[0.5,-1,2,0.25]}]}""";
        using var response = await server.Client.PostAsync($"/v2/models/{name}/infer", new StringContent(body, Encoding.UTF8, "application/json"));
        if (!response.IsSuccessStatusCode)
        {
            throw new InvalidOperationException($"{name}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
        }
    }

    private static async Task<JsonElement> LoadedAsync(ServerProcess server) =>
        await server.Client.GetFromJsonAsync<JsonElement>("/api/v1/loaded-models");

    private static long ModelAccounted(JsonElement list, string name) =>
        list.GetProperty("models").EnumerateArray().Single(m => m.GetProperty("model").GetString() == name)
            .GetProperty("memory").GetProperty("accounted_bytes").GetInt64();
}
