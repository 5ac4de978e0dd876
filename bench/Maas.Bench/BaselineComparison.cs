using System.Buffers.Binary;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Maas.Core.Formats.Onnx;

namespace Maas.Bench;

/// <summary>
/// This build's server against another build's (<c>--baseline path/to/Maas.Bench.dll</c>, e.g. the commit before an
/// engine change built from a git worktree), both running at once and taking turns: UltraFace at 8 clients, the MLP
/// latency (1 client) and batching (16 clients, on and off) workloads, with server CPU per call; plus UltraFace on
/// ONNX Runtime in process with its CPU per run, the floor the server's CPU per inference is compared with.
/// </summary>
internal static class BaselineComparison
{
    private const string Begin = "<!-- baseline-comparison:begin (written by bench/Maas.Bench --only baseline) -->";
    private const string End = "<!-- baseline-comparison:end -->";
    private const int Threads = 2;

    private sealed record Workload(string Name, int Clients, string Model, string Input, long[] Shape, byte[] Data, string Primary);

    public static async Task RunAsync(BenchOptions options)
    {
        var baselineDll = options.Baseline ?? throw new ArgumentException("--only baseline needs --baseline path/to/other/Maas.Bench.dll");
        await using var current = await ServerProcess.StartAsync(options, null, [], options.ServerEnvironment);
        await using var baseline = await ServerProcess.StartAsync(options, baselineDll, []);
        var mlp = OnnxModelWriter.Mlp(512, [1024, 1024], 10, seed: 42).ToBytes();
        var workloads = new List<Workload>();
        string? ultrafacePath = null;
        foreach (var server in new[] { current, baseline })
        {
            await server.RegisterAsync("mlp-latency", mlp, new { max_batch_size = 32, instance_count = 1, threads = Threads });
            await server.RegisterAsync("mlp-batched", mlp, new { max_batch_size = 32, max_queue_delay_ms = 0, instance_count = 1, threads = Threads });
            await server.RegisterAsync("mlp-unbatched", mlp, new { max_batch_size = 0, instance_count = 1, threads = Threads });
        }

        var shared = Scenarios.SharedModel("ultraface-rfb-320.onnx", options);
        var image = ToBytes(Enumerable.Range(0, 3 * 240 * 320).Select(i => ((i * 7919 % 255) - 127f) / 128f).ToArray());
        if (shared is not null)
        {
            ultrafacePath = shared;
            foreach (var server in new[] { current, baseline })
            {
                await server.RegisterAsync("ultraface", File.ReadAllBytes(shared), new { instance_count = 1, threads = Threads });
            }

            workloads.Add(new("ultraface, REST binary", 8, "ultraface", "input", [1, 3, 240, 320], image, "throughput"));
        }

        var row = ToBytes(Enumerable.Range(0, 512).Select(i => (float)Math.Sin(i)).ToArray());
        workloads.Add(new("mlp latency, REST binary", 1, "mlp-latency", "input", [1, 512], row, "p50"));
        workloads.Add(new("mlp batching on, REST binary", 16, "mlp-batched", "input", [1, 512], row, "throughput"));
        workloads.Add(new("mlp batching off, REST binary", 16, "mlp-unbatched", "input", [1, 512], row, "throughput"));

        using var local = ultrafacePath is null ? null : new Clients.InProcess(ultrafacePath, 1, Threads, "input", [1, 3, 240, 320], image);
        var modes = new List<(string Workload, string Build, int Clients, Func<int, CancellationToken, Task<bool>> Call, Func<TimeSpan> Cpu)>();
        foreach (var w in workloads)
        {
            modes.Add((w.Name, "baseline", w.Clients, Clients.RestBinary(baseline.Http, w.Model, w.Input, w.Shape, w.Data), baseline.CpuTime));
            modes.Add((w.Name, "this build", w.Clients, Clients.RestBinary(current.Http, w.Model, w.Input, w.Shape, w.Data), current.CpuTime));
        }

        if (local is not null)
        {
            // The benchmark's own CPU: ONNX Runtime's runs plus a light closed loop (no HTTP), the floor for the server.
            modes.Add(("ultraface, in-process ONNX Runtime", "this build", 8, local.CallAsync, () => Process.GetCurrentProcess().TotalProcessorTime));
        }

        foreach (var m in modes)
        {
            await LoadGenerator.RunAsync(m.Workload, m.Clients, Math.Max(1, options.Seconds / 2), m.Call);
        }

        var rounds = new List<(int Round, string Workload, string Build, Measurement M)>();
        for (var r = 0; r < options.Rounds; r++)
        {
            // Pairs swap their order every round, so a drift within a round favours neither build.
            var order = Enumerable.Range(0, modes.Count).Select(i => i < workloads.Count * 2 && r % 2 == 1 ? i ^ 1 : i);
            foreach (var i in order)
            {
                var (workload, build, clients, call, cpu) = modes[i];
                var m = await LoadGenerator.RunAsync($"{workload} [{build}]", clients, options.Seconds, call, serverCpu: cpu);
                Console.WriteLine($"  round {r + 1}: {m.Mode,-52} {m.PerSecond,9:0.0}/s  p50 {m.P50Ms,8:0.000} ms  p99 {m.P99Ms,8:0.000} ms  cpu {m.ServerCpuUsPerCall,7:0.0} " +
                    $"us/call{(m.Errors > 0 ? $"  errors {m.Errors}" : "")}");
                rounds.Add((r, workload, build, m));
            }
        }

        Write(options, baselineDll, workloads, rounds);
    }

    private static void Write(BenchOptions options, string baselineDll, List<Workload> workloads, List<(int Round, string Workload, string Build, Measurement M)> rounds)
    {
        var machine = $"{Environment.ProcessorCount} cores, {System.Runtime.InteropServices.RuntimeInformation.OSDescription}, .NET {Environment.Version}";
        var now = DateTimeOffset.UtcNow;
        var md = new StringBuilder();
        md.AppendLine(Begin);
        md.AppendLine("## This build against a baseline build (engine changes)");
        md.AppendLine();
        md.AppendLine(CultureInfo.InvariantCulture, $"Measured {now:yyyy-MM-dd HH:mm} UTC on {machine}: `dotnet run -c Release --project bench/Maas.Bench -- --only baseline " +
            $"--baseline {baselineDll}`, {options.Rounds} rounds of {options.Seconds:0.#} s per mode.");
        if (options.ServerEnvironment.Count > 0)
        {
            md.AppendLine(CultureInfo.InvariantCulture, $"This build's server runs with {string.Join(", ", options.ServerEnvironment.Select(kv => $"`{kv.Key}={kv.Value}`"))}.");
        }

        md.AppendLine("Both servers run at once, each in its own process, with the same models and serving configuration (1 instance x 2 threads,");
        md.AppendLine("REST binary tensors); every round measures each workload on both, the first to go alternating. Medians of the rounds;");
        md.AppendLine("\"ratio\" is this build / baseline (throughput and p50: the median of the per-round ratios; CPU: per call, of the medians).");
        md.AppendLine();
        md.AppendLine("| workload | clients | build | inferences/s | p50 ms | p99 ms | server CPU µs/call |");
        md.AppendLine("| --- | ---: | --- | ---: | ---: | ---: | ---: |");
        var json = new JsonObject
        {
            ["date"] = now.ToString("u", CultureInfo.InvariantCulture),
            ["machine"] = machine,
            ["baseline"] = baselineDll,
            ["seconds_per_measurement"] = options.Seconds,
            ["rounds"] = options.Rounds
        };
        var list = new JsonArray();
        foreach (var group in rounds.GroupBy(r => (r.Workload, r.Build)))
        {
            var ms = group.Select(g => g.M).ToList();
            var (rate, p50, p99, cpu) = (Median(ms.Select(m => m.PerSecond)), Median(ms.Select(m => m.P50Ms)), Median(ms.Select(m => m.P99Ms)),
                Median(ms.Select(m => m.ServerCpuUsPerCall)));
            md.AppendLine(CultureInfo.InvariantCulture, $"| {group.Key.Workload} | {ms[0].Clients} | {group.Key.Build} | {rate:0.0} | {p50:0.000} | {p99:0.000} | {cpu:0.0} |");
            list.Add(new JsonObject
            {
                ["workload"] = group.Key.Workload,
                ["build"] = group.Key.Build,
                ["per_second"] = rate,
                ["p50_ms"] = p50,
                ["p99_ms"] = p99,
                ["cpu_us_per_call"] = cpu,
                ["rounds"] = new JsonArray([.. ms.Select(m => (JsonNode)new JsonObject { ["per_second"] = m.PerSecond, ["p50_ms"] = m.P50Ms, ["p99_ms"] = m.P99Ms,
                ["cpu_us_per_call"] = m.ServerCpuUsPerCall, ["errors"] = m.Errors })]),
            });
        }

        json["modes"] = list;
        md.AppendLine();
        var verdicts = new JsonArray();
        foreach (var w in workloads)
        {
            var mine = rounds.Where(r => r.Workload == w.Name && r.Build == "this build").OrderBy(r => r.Round).Select(r => r.M).ToList();
            var theirs = rounds.Where(r => r.Workload == w.Name && r.Build == "baseline").OrderBy(r => r.Round).Select(r => r.M).ToList();
            var throughput = mine.Zip(theirs, (a, b) => a.PerSecond / b.PerSecond).ToList();
            var p50 = mine.Zip(theirs, (a, b) => a.P50Ms / b.P50Ms).ToList();
            var cpu = Median(mine.Select(m => m.ServerCpuUsPerCall)) / Median(theirs.Select(m => m.ServerCpuUsPerCall));
            // The workload's own measure (throughput, or p50 at one client) and CPU per call: neither may lose more than 3%.
            var primaryLoss = w.Primary == "p50" ? Median(p50) - 1 : 1 - Median(throughput);
            var met = primaryLoss <= 0.03 && cpu <= 1.03;
            md.AppendLine(CultureInfo.InvariantCulture, $"- {w.Name}: throughput ratio {Median(throughput):0.000} (rounds {Join(throughput)}), p50 ratio {Median(p50):0.000} " +
                $"(rounds {Join(p50)}), server CPU per call ratio {cpu:0.000}: **{(met ? "no loss over 3%" : "LOSS over 3%")}** on " +
                $"{(w.Primary == "p50" ? "p50" : "throughput")} and CPU.");
            verdicts.Add(new JsonObject
            {
                ["workload"] = w.Name,
                ["throughput_ratio"] = Median(throughput),
                ["p50_ratio"] = Median(p50),
                ["cpu_per_call_ratio"] = cpu,
                ["met"] = met
            });
        }

        json["verdicts"] = verdicts;
        var inProcess = rounds.Where(r => r.Workload.Contains("in-process", StringComparison.Ordinal)).Select(r => r.M).ToList();
        var served = rounds.Where(r => r.Workload.StartsWith("ultraface, REST", StringComparison.Ordinal) && r.Build == "this build").OrderBy(r => r.Round).Select(r => r.M)
            .ToList();
        if (inProcess.Count > 0 && served.Count > 0)
        {
            var perRound = served.Zip(inProcess, (s, l) => s.ServerCpuUsPerCall / l.ServerCpuUsPerCall).ToList();
            var ratio = Median(served.Select(m => m.ServerCpuUsPerCall)) / Median(inProcess.Select(m => m.ServerCpuUsPerCall));
            md.AppendLine(CultureInfo.InvariantCulture, $"- UltraFace CPU per inference, server (this build) / in-process ONNX Runtime (the benchmark process's own CPU per " +
                $"run, same session settings): **{ratio:0.000}** (rounds {Join(perRound)}).");
            json["ultraface_cpu_per_inference_ratio"] = ratio;
        }

        md.AppendLine(End);
        var existing = File.ReadAllText(options.DocsPath);
        var start = existing.IndexOf(Begin, StringComparison.Ordinal);
        var stop = existing.IndexOf(End, StringComparison.Ordinal);
        var updated = start >= 0 && stop > start
            ? string.Concat(existing.AsSpan(0, start), md.ToString().TrimEnd('\n'), existing.AsSpan(stop + End.Length))
            : existing.TrimEnd('\n') + "\n\n" + md;
        if (options.Write)
        {
            // A trial (--write no) leaves both the page and the reference results as they were.
            Directory.CreateDirectory(Path.GetDirectoryName(options.JsonPath)!);
            File.WriteAllText(Path.Combine(Path.GetDirectoryName(options.JsonPath)!, "baseline-comparison.json"),
                json.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
            File.WriteAllText(options.DocsPath, updated.TrimEnd('\n') + "\n");
        }

        Console.WriteLine(md);
    }

    private static string Join(IEnumerable<double> values) => string.Join(", ", values.Select(v => v.ToString("0.000", CultureInfo.InvariantCulture)));

    private static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length == 0 ? double.NaN : sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[(sorted.Length / 2) - 1] + sorted[sorted.Length / 2]) / 2;
    }

    private static byte[] ToBytes(float[] values)
    {
        var bytes = new byte[values.Length * 4];
        for (var i = 0; i < values.Length; i++)
        {
            BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(i * 4), values[i]);
        }

        return bytes;
    }
}
