using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Maas.Bench;

/// <summary>Writes the results as JSON (every round) and as the ONNX serving section of docs/benchmarks.md (medians).</summary>
internal sealed class BenchReport(BenchOptions options)
{
    private const string Begin = "<!-- onnx-serving:begin (written by bench/Maas.Bench) -->";
    private const string End = "<!-- onnx-serving:end -->";
    private readonly List<ScenarioResult> _results = [];

    public void Add(ScenarioResult result)
    {
        _results.Add(result);
        Console.WriteLine($"{result.Name}: {(result.Met ? "target met" : "target MISSED")} ({result.Target}) {string.Join(", ", result.Numbers.Select(kv => $"{kv.Key}={kv.Value:0.###}"))}");
    }

    public void Write()
    {
        var machine = $"{Environment.ProcessorCount} cores, {System.Runtime.InteropServices.RuntimeInformation.OSDescription}, .NET {Environment.Version}";
        Directory.CreateDirectory(Path.GetDirectoryName(options.JsonPath)!);
        var json = new
        {
            date = DateTimeOffset.UtcNow.ToString("u", CultureInfo.InvariantCulture),
            machine,
            seconds_per_measurement = options.Seconds,
            rounds = options.Rounds,
            scenarios = _results,
        };
        File.WriteAllText(options.JsonPath, JsonSerializer.Serialize(json, new JsonSerializerOptions { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower }));

        var md = new StringBuilder();
        md.AppendLine(Begin);
        md.AppendLine("## ONNX serving (Open Inference Protocol v2)");
        md.AppendLine();
        md.AppendLine($"Measured {DateTimeOffset.UtcNow:yyyy-MM-dd} on {machine} with `dotnet run -c Release --project bench/Maas.Bench`.");
        md.AppendLine($"The server runs in its own process on loopback; the load generator shares the same cores. Each mode is measured for {options.Seconds:0.#} s,");
        md.AppendLine($"the modes alternate, {options.Rounds} rounds, and the table shows the median of the rounds (all rounds: `bench/results/onnx-serving.json`).");
        md.AppendLine("Clients are closed loops: each sends its next request when the previous one has been answered. REST clients");
        md.AppendLine("use a lean HTTP/1.1 keep-alive client in the benchmark (one connection each, requests built once, like wrk), so the");
        md.AppendLine("load generator takes little of the shared CPU; gRPC clients use .NET's HttpClient over HTTP/2. In-process rows run the");
        md.AppendLine("same model file on ONNX Runtime with the same sessions, threads and session settings as the server, callers waiting");
        md.AppendLine("for a free session the way requests wait for an instance. \"Server CPU\" is the CPU time (user + system) the server");
        md.AppendLine("process used per completed call over the measured window: less sensitive to the machine's noise than throughput.");
        foreach (var r in _results)
        {
            md.AppendLine();
            md.AppendLine($"### {r.Name}");
            md.AppendLine();
            md.AppendLine(r.Setup);
            if (r.Medians.Count > 0)
            {
                md.AppendLine();
                md.AppendLine("| mode | clients | inferences/s | p50 ms | p99 ms | server CPU µs/call |");
                md.AppendLine("| --- | ---: | ---: | ---: | ---: | ---: |");
                foreach (var m in r.Medians)
                {
                    var cpu = m.ServerCpuUsPerCall > 0 ? m.ServerCpuUsPerCall.ToString("0.0", CultureInfo.InvariantCulture) : "-";
                    md.AppendLine(CultureInfo.InvariantCulture, $"| {m.Mode} | {m.Clients} | {m.PerSecond:0.0} | {m.P50Ms:0.000} | {m.P99Ms:0.000} | {cpu} |");
                }
            }

            md.AppendLine();
            if (r.Name == "batching" && !r.Met && r.Numbers.TryGetValue("batching_off_vs_in_process_one_row", out var offRatio))
            {
                md.AppendLine(CultureInfo.InvariantCulture, $"Why the target is missed here: with batching off the server already comes close to ONNX Runtime in process doing");
                md.AppendLine(CultureInfo.InvariantCulture, $"one row per run ({offRatio:0.00}x of it), so the 2x has to come from the batched side, which is bound by the CPU each");
                md.AppendLine("HTTP request costs on the two shared cores (HTTP, auth, usage metering, metrics, thread hand-offs; a `perf` profile");
                md.AppendLine("of the server is dominated by kernel context switches), not by ONNX Runtime: ONNX Runtime alone does about");
                md.AppendLine("2.2-2.7x more rows per second in batches of 8-16 than one row at a time on this machine.");
                md.AppendLine();
            }

            if (r.Name is "batching" or "overhead" && r.Medians.Count >= 2)
            {
                // The verdict compares medians; the per-round ratios show how close to the line it is on a noisy machine.
                var first = r.Rounds.Where(m => m.Mode == r.Medians[0].Mode).ToList();
                var second = r.Rounds.Where(m => m.Mode == r.Medians[1].Mode).ToList();
                var ratios = first.Zip(second, (a, b) => (a.PerSecond / Math.Max(1e-9, b.PerSecond)).ToString("0.00", CultureInfo.InvariantCulture));
                md.AppendLine(CultureInfo.InvariantCulture, $"Per round, {r.Medians[0].Mode} / {r.Medians[1].Mode}: {string.Join(", ", ratios)}.");
                md.AppendLine();
            }

            md.AppendLine(CultureInfo.InvariantCulture, $"Target: {r.Target}. Result: {string.Join(", ", r.Numbers.Select(kv => $"{kv.Key.Replace('_', ' ')} = {kv.Value:0.###}"))}: **{(r.Met ? "met" : "missed")}**.");
        }

        md.AppendLine(End);
        var existing = File.Exists(options.DocsPath) ? File.ReadAllText(options.DocsPath) : "# Benchmarks\n";
        var start = existing.IndexOf(Begin, StringComparison.Ordinal);
        var stop = existing.IndexOf(End, StringComparison.Ordinal);
        var updated = start >= 0 && stop > start
            ? string.Concat(existing.AsSpan(0, start), md.ToString().TrimEnd('\n'), existing.AsSpan(stop + End.Length))
            : existing.TrimEnd('\n') + "\n\n" + md;
        File.WriteAllText(options.DocsPath, updated.TrimEnd('\n') + "\n");
    }
}
