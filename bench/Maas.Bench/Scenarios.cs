using System.Buffers.Binary;
using Maas.Core.Formats.Onnx;

namespace Maas.Bench;

/// <summary>Medians over the alternating rounds of one mode.</summary>
internal sealed record ModeSummary(string Mode, int Clients, double PerSecond, double P50Ms, double P99Ms, long Errors, double ServerCpuUsPerCall);

/// <summary>One scenario's rounds, medians, extra numbers and the verdict against its target.</summary>
internal sealed record ScenarioResult(
    string Name,
    string Setup,
    IReadOnlyList<Measurement> Rounds,
    IReadOnlyList<ModeSummary> Medians,
    IReadOnlyDictionary<string, double> Numbers,
    string Target,
    bool Met)
{
    /// <summary>Markdown lines a scenario writes in place of the medians table (its own table and notes).</summary>
    public IReadOnlyList<string> Lines { get; init; } = [];
}

/// <summary>The three measurements the serving issue sets targets for.</summary>
internal static class Scenarios
{
    private const int Threads = 2;

    /// <summary>Where the generated models are written for the in-process runs; removed when the benchmark ends.</summary>
    public static string ScratchFolder { get; } = Path.Combine(Path.GetTempPath(), $"maas-bench-{Environment.ProcessId}");

    /// <summary>p50 latency at one client: the server (REST binary, gRPC) against ONNX Runtime in process, same MLP.</summary>
    public static async Task<ScenarioResult> LatencyAsync(ServerProcess server, BenchOptions options)
    {
        var (path, bytes) = WriteMlp("mlp-latency");
        await server.RegisterAsync("mlp-latency", bytes, new { max_batch_size = 32, instance_count = 1, threads = Threads });
        var row = Floats(512, seed: 1);
        using var local = new Clients.InProcess(path, 1, Threads, "input", [1, 512], row);
        var modes = new (string, Func<int, CancellationToken, Task<bool>>)[]
        {
            ("in-process ONNX Runtime", local.CallAsync),
            ("server, REST binary", Clients.RestBinary(server.Http, "mlp-latency", "input", [1, 512], row)),
            ("server, gRPC", Clients.Grpc(server.Grpc, "mlp-latency", "input", [1, 512], row)),
        };
        var rounds = await AlternateAsync(server, modes, clients: 1, options);
        var medians = Summarize(rounds);
        var added = medians[1].P50Ms - medians[0].P50Ms;
        var addedGrpc = medians[2].P50Ms - medians[0].P50Ms;
        return new ScenarioResult(
            "latency",
            $"MLP 512-1024-1024-10 (FP32, generated), batch of 1, 1 client; 1 instance x {Threads} threads on both sides",
            rounds,
            medians,
            new Dictionary<string, double> { ["added_p50_ms_rest_binary"] = added, ["added_p50_ms_grpc"] = addedGrpc },
            "p50 added latency at 1 client < 0.5 ms (REST binary vs in process)",
            added < 0.5);
    }

    /// <summary>16 clients on the same MLP with dynamic batching on and off (two models, same server, alternating).</summary>
    public static async Task<ScenarioResult> BatchingAsync(ServerProcess server, BenchOptions options)
    {
        var (path, bytes) = WriteMlp("mlp-batching");
        const int threads = Threads;
        await server.RegisterAsync("mlp-batched", bytes, new { max_batch_size = 32, max_queue_delay_ms = 0, instance_count = 1, threads });
        await server.RegisterAsync("mlp-unbatched", bytes, new { max_batch_size = 0, instance_count = 1, threads });
        var row = Floats(512, seed: 2);
        using var local = new Clients.InProcess(path, 1, threads, "input", [1, 512], row);
        var modes = new (string, Func<int, CancellationToken, Task<bool>>)[]
        {
            ("dynamic batching on", Clients.RestBinary(server.Http, "mlp-batched", "input", [1, 512], row)),
            ("dynamic batching off", Clients.RestBinary(server.Http, "mlp-unbatched", "input", [1, 512], row)),
            ("in-process, one row per run", local.CallAsync),
        };
        var rounds = await AlternateAsync(server, modes, clients: 16, options);
        var medians = Summarize(rounds);
        var stats = await server.StatsAsync("mlp-batched");
        var averageBatch = stats.GetProperty("inference_count").GetDouble() / Math.Max(1, stats.GetProperty("execution_count").GetDouble());
        Console.WriteLine("  batches run (size x count): " + string.Join(" ", stats.GetProperty("batch_stats").EnumerateArray()
            .Select(b => $"{b.GetProperty("batch_size").GetInt64()}x{b.GetProperty("compute_infer").GetProperty("count").GetInt64()}")));
        var ratio = medians[0].PerSecond / Math.Max(1e-9, medians[1].PerSecond);
        return new ScenarioResult(
            "batching",
            $"MLP 512-1024-1024-10 (FP32, generated), 16 clients each sending 1 row over REST binary; max batch 32, no queue delay; 1 instance x {threads} threads",
            rounds,
            medians,
            new Dictionary<string, double>
            {
                ["speedup"] = ratio,
                ["average_batch_size"] = averageBatch,
                ["batching_off_vs_in_process_one_row"] = medians[1].PerSecond / Math.Max(1e-9, medians[2].PerSecond),
            },
            "batching on >= 2x batching off at 16 clients",
            ratio >= 2);
    }

    /// <summary>UltraFace at 8 clients: ONNX Runtime in process against the server over REST binary, gRPC and REST JSON.</summary>
    public static async Task<ScenarioResult> UltraFaceAsync(ServerProcess server, BenchOptions options)
    {
        var path = SharedModel("ultraface-rfb-320.onnx", options);
        if (path is null)
        {
            return new ScenarioResult("ultraface", "skipped: ../shared/models/ultraface-rfb-320.onnx is not present", [], [], new Dictionary<string, double>(),
                "binary >= 0.8x in process at 8 clients", false);
        }

        await server.RegisterAsync("ultraface", File.ReadAllBytes(path), new { instance_count = 1, threads = Threads });
        var values = Enumerable.Range(0, 3 * 240 * 320).Select(i => ((i * 7919 % 255) - 127f) / 128f).ToArray();
        var raw = ToBytes(values);
        using var local = new Clients.InProcess(path, 1, Threads, "input", [1, 3, 240, 320], raw);
        var modes = new (string, Func<int, CancellationToken, Task<bool>>)[]
        {
            ("in-process ONNX Runtime", local.CallAsync),
            ("server, REST binary", Clients.RestBinary(server.Http, "ultraface", "input", [1, 3, 240, 320], raw)),
            ("server, gRPC", Clients.Grpc(server.Grpc, "ultraface", "input", [1, 3, 240, 320], raw)),
            ("server, REST JSON", Clients.RestJson(server.Http, "ultraface", "input", [1, 3, 240, 320], values)),
        };
        var rounds = await AlternateAsync(server, modes, clients: 8, options);
        var medians = Summarize(rounds);
        var ratio = medians[1].PerSecond / Math.Max(1e-9, medians[0].PerSecond);
        return new ScenarioResult(
            "ultraface",
            $"UltraFace RFB-320 (../shared/models), input FP32 [1,3,240,320] (900 KiB), fixed batch of 1, 8 clients; 1 instance x {Threads} threads on both sides",
            rounds,
            medians,
            new Dictionary<string, double> { ["binary_vs_in_process"] = ratio, ["grpc_vs_in_process"] = medians[2].PerSecond / Math.Max(1e-9, medians[0].PerSecond) },
            "server with binary tensors >= 0.8x in-process throughput at 8 clients",
            ratio >= 0.8);
    }

    /// <summary>
    /// What metrics and tracing cost: the batching scenario's load (16 clients, REST binary, batching on) against two
    /// servers that differ only in Maas:Observability. "On": metrics recorded and /metrics scraped every second
    /// (while it is measured), tracing on with every span sampled and recorded by an in-process listener. "Off":
    /// both switches off. Rounds alternate; the medians are compared.
    /// </summary>
    public static async Task<ScenarioResult> ObservabilityOverheadAsync(BenchOptions options)
    {
        var (_, bytes) = WriteMlp("mlp-overhead");
        var config = new { max_batch_size = 32, max_queue_delay_ms = 0, instance_count = 1, threads = Threads };
        await using var on = await ServerProcess.StartAsync(options, "--Maas:Observability:Metrics=true", "--Maas:Observability:Tracing=true", ServerProcess.TraceListenerFlag);
        await using var metricsOnly = await ServerProcess.StartAsync(options, "--Maas:Observability:Metrics=true", "--Maas:Observability:Tracing=false");
        await using var off = await ServerProcess.StartAsync(options, "--Maas:Observability:Metrics=false", "--Maas:Observability:Tracing=false");
        await on.RegisterAsync("mlp", bytes, config);
        await metricsOnly.RegisterAsync("mlp", bytes, config);
        await off.RegisterAsync("mlp", bytes, config);
        var row = Floats(512, seed: 3);
        var modes = new (string Mode, ServerProcess Server, bool Scrape)[]
        {
            ("metrics + tracing on", on, true), ("metrics on, tracing off", metricsOnly, true), ("metrics + tracing off", off, false),
        };
        // Every mode gets the same requests, from a traced caller (W3C traceparent header): "on" parents its spans to it.
        var traceparent = $"00-{System.Diagnostics.ActivityTraceId.CreateRandom()}-{System.Diagnostics.ActivitySpanId.CreateRandom()}-01";
        var calls = modes.Select(m => Clients.RestBinary(m.Server.Http, "mlp", "input", [1, 512], row, traceparent)).ToArray();
        long scrapes = 0;
        async Task<Measurement> MeasureAsync(int i, double seconds)
        {
            using var stop = new CancellationTokenSource();
            var scraper = modes[i].Scrape ? Task.Run(async () =>
            {
                while (!stop.IsCancellationRequested)
                {
                    using var scrape = await modes[i].Server.Client.GetAsync("/metrics", CancellationToken.None);
                    scrape.EnsureSuccessStatusCode();
                    _ = await scrape.Content.ReadAsByteArrayAsync(CancellationToken.None);
                    Interlocked.Increment(ref scrapes);
                    await Task.Delay(1000, stop.Token).ContinueWith(_ => { }, TaskScheduler.Default);
                }
            }) : Task.CompletedTask;
            try
            {
                return await LoadGenerator.RunAsync(modes[i].Mode, 16, seconds, calls[i], serverCpu: modes[i].Server.CpuTime);
            }
            finally
            {
                await stop.CancelAsync();
                await scraper;
            }
        }

        // A long warm-up per server: the JIT's tiering (and dynamic PGO) of the request path takes several seconds
        // at this load, and a server still compiling in its measured window pays for it in CPU and throughput.
        for (var i = 0; i < modes.Length; i++)
        {
            await MeasureAsync(i, 6);
        }

        var rounds = new List<Measurement>();
        for (var r = 0; r < options.OverheadRounds; r++)
        {
            // Rotate which server goes first, so a drift within a round favours none.
            foreach (var i in Enumerable.Range(0, modes.Length).Select(k => (k + r) % modes.Length))
            {
                var m = await MeasureAsync(i, options.OverheadSeconds);
                Console.WriteLine($"  round {r + 1}: {m.Mode,-26} {m.PerSecond,9:0.0}/s  p50 {m.P50Ms,8:0.000} ms  p99 {m.P99Ms,8:0.000} ms  server cpu " +
                    $"{m.ServerCpuUsPerCall,6:0.0} us/call{(m.Errors > 0 ? $"  errors {m.Errors}" : "")}");
                rounds.Add(m);
            }
        }

        var medians = Summarize(rounds);
        var onMedian = medians.Single(m => m.Mode == modes[0].Mode);
        var metricsMedian = medians.Single(m => m.Mode == modes[1].Mode);
        var offMedian = medians.Single(m => m.Mode == modes[2].Mode);
        var loss = 1 - (onMedian.PerSecond / Math.Max(1e-9, offMedian.PerSecond));
        var metricsLoss = 1 - (metricsMedian.PerSecond / Math.Max(1e-9, offMedian.PerSecond));
        var cpuOn = onMedian.ServerCpuUsPerCall;
        var cpuOff = offMedian.ServerCpuUsPerCall;

        // Paired per round (same drift for both): a second view of the loss, less swayed by a slow round.
        var paired = Median(Enumerable.Range(0, options.OverheadRounds).Select(r =>
            1 - (rounds.Single(m => m.Mode == modes[0].Mode && RoundOf(m) == r).PerSecond / Math.Max(1e-9,
            rounds.Single(m => m.Mode == modes[2].Mode && RoundOf(m) == r).PerSecond))));
        int RoundOf(Measurement m) => rounds.IndexOf(m) / modes.Length;
        return new ScenarioResult(
            "overhead",
            $"Metrics and tracing on vs off: MLP 512-1024-1024-10, 16 clients, REST binary with a W3C traceparent header (a traced caller), max batch 32, 1 instance x " +
            $"{Threads} threads; three servers taking turns (each warmed up first, the first to go rotating per round), "
            + "\"on\" with /metrics scraped every second while measured and every span (ASP.NET Core request, queue, batch, engine run, encode) sampled and recorded by an " +
                "in-process ActivityListener, \"metrics on, tracing off\" the same without spans, "
            + "\"off\" with Maas:Observability:Metrics=false and Maas:Observability:Tracing=false",
            rounds,
            medians,
            new Dictionary<string, double>
            {
                ["throughput_loss_percent"] = loss * 100,
                ["metrics_only_loss_percent"] = metricsLoss * 100,
                ["server_cpu_us_per_call_on"] = cpuOn,
                ["server_cpu_us_per_call_off"] = cpuOff,
                ["server_cpu_ratio_on_vs_off"] = cpuOn / Math.Max(1e-9, cpuOff),
                ["median_paired_round_loss_percent"] = paired * 100,
                ["metrics_scrapes"] = scrapes,
            },
            "metrics and tracing cost under 3% of throughput (medians of the rounds)",
            loss < 0.03);
    }

    // Measures every mode once per round, rounds one after another, so drifts of a noisy machine hit all modes alike.
    private static async Task<List<Measurement>> AlternateAsync(ServerProcess server, (string Mode, Func<int, CancellationToken, Task<bool>> Call)[] modes, int clients,
        BenchOptions options)
    {
        // A warm-up pass per mode first: JIT, connection pools, and ONNX Runtime's per-shape plans (one per batch size).
        foreach (var (mode, call) in modes)
        {
            await LoadGenerator.RunAsync(mode, clients, Math.Max(1, options.Seconds / 2), call);
        }

        var rounds = new List<Measurement>();
        for (var r = 0; r < options.Rounds; r++)
        {
            foreach (var (mode, call) in modes)
            {
                var m = await LoadGenerator.RunAsync(mode, clients, options.Seconds, call,
                    serverCpu: mode.StartsWith("in-process", StringComparison.Ordinal) ? null : server.CpuTime);
                Console.WriteLine($"  round {r + 1}: {mode,-26} {m.PerSecond,9:0.0}/s  p50 {m.P50Ms,8:0.000} ms  p99 {m.P99Ms,8:0.000} ms  server cpu " +
                    $"{m.ServerCpuUsPerCall,6:0.0} us/call{(m.Errors > 0 ? $"  errors {m.Errors}" : "")}");
                rounds.Add(m);
            }
        }

        return rounds;
    }

    private static List<ModeSummary> Summarize(List<Measurement> rounds) =>
        rounds.GroupBy(m => m.Mode).Select(g => new ModeSummary(
            g.Key,
            g.First().Clients,
            Median(g.Select(m => m.PerSecond)),
            Median(g.Select(m => m.P50Ms)),
            Median(g.Select(m => m.P99Ms)),
            g.Sum(m => m.Errors),
            Median(g.Select(m => m.ServerCpuUsPerCall)))).ToList();

    private static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length == 0 ? 0 : sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[(sorted.Length / 2) - 1] + sorted[sorted.Length / 2]) / 2;
    }

    private static (string Path, byte[] Bytes) WriteMlp(string name)
    {
        var bytes = OnnxModelWriter.Mlp(512, [1024, 1024], 10, seed: 42).ToBytes();
        Directory.CreateDirectory(ScratchFolder);
        var path = Path.Combine(ScratchFolder, name + ".onnx");
        File.WriteAllBytes(path, bytes);
        return (path, bytes);
    }

    public static string? SharedModel(string file, BenchOptions options)
    {
        var folder = Environment.GetEnvironmentVariable("MAAS_SHARED_MODELS") is { Length: > 0 } env
            ? env
            : Path.GetFullPath(Path.Combine(options.RepoRoot, "..", "shared", "models"));
        var path = Path.Combine(folder, file);
        return File.Exists(path) ? path : null;
    }

    private static byte[] Floats(int count, int seed)
    {
        var random = new Random(seed);
        return ToBytes(Enumerable.Range(0, count).Select(_ => random.NextSingle()).ToArray());
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
