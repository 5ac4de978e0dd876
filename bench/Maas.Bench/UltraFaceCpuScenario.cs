using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Maas.Core.TensorServing;
using Maas.Runtimes.Onnx.Serving;

namespace Maas.Bench;

/// <summary>
/// UltraFace at 8 clients (REST binary, fixed batch, 1 instance x 2 threads, no spinning): the server's CPU per
/// inference against ONNX Runtime's CPU per run in process, measured so that both sides count the same thing.
/// <list type="bullet">
/// <item>Both sides run the same engine code: in process is the server's ONNX backend behind the server's scheduler
/// (its worker thread, queue and completions on the thread pool, the server's scheduler defaults), fed a pooled input
/// buffer filled just before each call as the server's request reading fills one; only HTTP is missing. ONNX
/// Runtime's threads carry the model's name on both sides.</item>
/// <item>The server warms up long enough for the JIT's tiering to be over before anything is measured.</item>
/// <item>Rounds are equal in length and alternate which side goes first; the ratio is taken per round (adjacent
/// measurements) and reported as the median with its spread.</item>
/// <item>Per thread (/proc/&lt;pid&gt;/task/*/stat): the engine's threads (the worker and ONNX Runtime's threads) are
/// a number of their own on both sides, so the engine is compared with the engine and the HTTP side's cost is the
/// rest of the server's CPU. In process the rest is the benchmark's own client loops, counted apart.</item>
/// </list>
/// </summary>
internal static class UltraFaceCpuScenario
{
    private const int Threads = 2;
    private const int Clients = 8;

    private sealed record Side(double TotalMs, double EngineMs, double OtherMs, int Calls, IReadOnlyList<(string Name, double Ms)> TopThreads, double WorkItems);

    public static async Task RunAsync(BenchOptions options)
    {
        if (Scenarios.SharedModel("ultraface-rfb-320.onnx", options) is not { } path)
        {
            Console.WriteLine("ultraface-cpu: skipped, ultraface-rfb-320.onnx is not in the shared models folder (MAAS_SHARED_MODELS or ../shared/models)");
            return;
        }

        var image = new byte[3 * 240 * 320 * 4];
        for (var i = 0; i < 3 * 240 * 320; i++)
        {
            BitConverter.TryWriteBytes(image.AsSpan(i * 4), ((i * 7919 % 255) - 127f) / 128f);
        }

        // A: this build (with --server-env). Compared in the same rounds (an A/B without the noise between runs): with
        // --compare-env the same build with other settings, with --baseline another build's server (its "serve" mode).
        await using var server = await ServerProcess.StartAsync(options, null, [], options.ServerEnvironment);
        var compared = new List<(string Label, ServerProcess Server)>();
        SharedMemoryClient? sharedMemory = null;
        await using var cleanup = new CompareCleanup(compared);
        if (options.CompareEnvironment.Count > 0)
        {
            compared.Add(($"with {string.Join(", ", options.CompareEnvironment.Select(kv => $"`{kv.Key}={kv.Value}`"))}",
                await ServerProcess.StartAsync(options, null, [],
                    options.CompareEnvironment.Aggregate(new Dictionary<string, string>(options.ServerEnvironment), (env, kv) => { env[kv.Key] = kv.Value; return env; }))));
        }

        if (options.Baseline is { } baseline)
        {
            compared.Add(($"the baseline build {baseline}", await ServerProcess.StartAsync(options, baseline, [], options.ServerEnvironment)));
        }

        // --shm: the same build with the input and outputs passed through a registered shared-memory region (last).
        if (options.SharedMemory)
        {
            compared.Add(("the system shared memory extension (input and outputs in a registered region, JSON requests)", await ServerProcess.StartAsync(options, null, [],
                new Dictionary<string, string>(options.ServerEnvironment) { ["Maas__Inference__AllowClientSharedMemory"] = "true" })));
        }

        var servers = compared.Select(c => c.Server).Prepend(server).ToArray();
        foreach (var s in servers)
        {
            await s.RegisterAsync("ultraface", File.ReadAllBytes(path), new { instance_count = 1, threads = Threads });
        }

        if (options.SharedMemory)
        {
            sharedMemory = await SharedMemoryClient.StartAsync(servers[^1], "ultraface", "input", [1, 3, 240, 320], image, Clients);
        }

        using var sharedMemoryCleanup = sharedMemory;

        // --floor: the smallest HTTP server over the same engine code, in a process of its own, in the same rounds.
        await using var floor = options.Floor ? await FloorServer.StartAsync(path, Threads, options.FloorOnKestrel) : null;
        await using var local = new EngineWorker(path, Threads, "input", [1, 3, 240, 320], image);
        var floorCall = floor is null ? null : Maas.Bench.Clients.RestBinary(floor.Http, "ultraface", "input", [1, 3, 240, 320], image);
        var floorEngine = EngineThreads(FloorServer.ModelName);
        var floorRounds = new List<Side>();
        var calls = servers.Select(s => Maas.Bench.Clients.RestBinary(s.Http, "ultraface", "input", [1, 3, 240, 320], image)).ToArray();
        if (sharedMemory is not null)
        {
            calls[^1] = sharedMemory.CallAsync;
        }

        var serverEngine = EngineThreads("ultraface");
        var localEngine = EngineThreads(EngineWorker.ModelName);
        var self = Environment.ProcessId;

        Console.WriteLine($"ultraface-cpu: warming the server(s) up for {options.WarmupSeconds:0} s each (JIT tiering), in process for {options.WarmupSeconds / 4:0} s; then " +
            $"{options.Rounds} rounds of {options.Seconds:0.#} s per side");
        foreach (var call in calls)
        {
            await LoadGenerator.RunAsync("warm-up, server", Clients, options.WarmupSeconds, call);
        }

        if (floorCall is not null)
        {
            await LoadGenerator.RunAsync("warm-up, floor server", Clients, options.WarmupSeconds / 2, floorCall);
        }

        await LoadGenerator.RunAsync("warm-up, in process", Clients, options.WarmupSeconds / 4, local.CallAsync);
        var rounds = new List<(Side Server, Side Local, double Load)>();
        var others = compared.Select(_ => new List<Side>()).ToList();
        var floorSide = floorCall is null ? -1 : servers.Length;
        var sides = servers.Length + (floorCall is null ? 1 : 2);
        for (var r = 0; r < options.Rounds; r++)
        {
            var load = LoadAverage();
            var measured = new Side[sides];
            // The side that goes first rotates every round, so a drift within a round favours none.
            foreach (var i in Enumerable.Range(0, sides).Select(k => (k + r) % sides))
            {
                measured[i] = i < servers.Length
                    ? await MeasureAsync(servers[i].Pid, serverEngine, Clients, options.Seconds, calls[i], servers[i].ThreadPoolWorkItems)
                    : i == floorSide
                        ? await MeasureAsync(floor!.Pid, floorEngine, Clients, options.Seconds, floorCall!, () => null)
                        : await MeasureAsync(self, localEngine, Clients, options.Seconds, local.CallAsync, () => ThreadPool.CompletedWorkItemCount);
            }

            var (s, l) = (measured[0], measured[^1]);
            rounds.Add((s, l, load));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  round {r + 1} (load {load:0.0}): server {s.TotalMs:0.000} ms/inference (engine {s.EngineMs:0.000}, rest {s.OtherMs:0.000}, {s.Calls} calls, " +
                $"{s.WorkItems:0.0} thread-pool work items each), in process {l.TotalMs:0.000} (engine {l.EngineMs:0.000}, client loops {l.OtherMs:0.000}, {l.Calls} runs, " +
                $"{l.WorkItems:0.0} work items each): total ratio {s.TotalMs / l.EngineMs:0.000}, engine ratio {s.EngineMs / l.EngineMs:0.000}"));
            Console.WriteLine("    server threads: " + string.Join(", ", s.TopThreads.Select(t => string.Create(CultureInfo.InvariantCulture, $"{t.Name} {t.Ms:0.000}"))));
            for (var c = 0; c < compared.Count; c++)
            {
                var o = measured[1 + c];
                others[c].Add(o);
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"    compared server {(char)('B' + c)}: {o.TotalMs:0.000} ms/inference (engine {o.EngineMs:0.000}, rest {o.OtherMs:0.000}, {o.Calls} calls, " +
                    $"{o.WorkItems:0.0} work items each): total ratio {o.TotalMs / l.EngineMs:0.000}, rest {(char)('B' + c)}/A {o.OtherMs / s.OtherMs:0.000}; threads: ")
                    + string.Join(", ", o.TopThreads.Select(t => string.Create(CultureInfo.InvariantCulture, $"{t.Name} {t.Ms:0.000}"))));
            }

            if (floorSide >= 0)
            {
                var f = measured[floorSide];
                floorRounds.Add(f);
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"    floor server: {f.TotalMs:0.000} ms/inference (engine {f.EngineMs:0.000}, rest {f.OtherMs:0.000}, {f.Calls} calls): total ratio " +
                    $"{f.TotalMs / l.EngineMs:0.000}, engine ratio {f.EngineMs / l.EngineMs:0.000}, rest / in-process engine {f.OtherMs / l.EngineMs:0.000}; threads: ")
                    + string.Join(", ", f.TopThreads.Select(t => string.Create(CultureInfo.InvariantCulture, $"{t.Name} {t.Ms:0.000}"))));
            }

            Console.WriteLine("    in-process threads: " + string.Join(", ", l.TopThreads.Select(t => string.Create(CultureInfo.InvariantCulture, $"{t.Name} {t.Ms:0.000}"))));
        }

        Write(options, rounds);
        if (floorRounds.Count > 0)
        {
            var total = floorRounds.Zip(rounds, (f, r) => f.TotalMs / r.Local.EngineMs).ToList();
            var engine = floorRounds.Zip(rounds, (f, r) => f.EngineMs / r.Local.EngineMs).ToList();
            var rest = floorRounds.Zip(rounds, (f, r) => f.OtherMs / r.Local.EngineMs).ToList();
            var serverOverFloor = floorRounds.Zip(rounds, (f, r) => r.Server.TotalMs / f.TotalMs).ToList();
            var floorKind = options.FloorOnKestrel
                ? "one endpoint on plain Kestrel with its defaults"
                : "a blocking thread per connection, the tensor received into its buffer";
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"- the floor server ({floorKind}, no middleware), same rounds: its CPU per inference / in-process engine median " +
                $"**{Median(total):0.000}** (rounds {Join(total)}); engine / engine median {Median(engine):0.000} (rounds {Join(engine)}); " +
                $"its non-engine threads / in-process engine median {Median(rest):0.000} (rounds {Join(rest)}); " +
                $"MaaS's server / the floor server median {Median(serverOverFloor):0.000} (rounds {Join(serverOverFloor)})"));
        }
        for (var c = 0; c < compared.Count; c++)
        {
            var rest = others[c].Zip(rounds, (o, r) => o.OtherMs / r.Server.OtherMs).ToList();
            var total = others[c].Zip(rounds, (o, r) => o.TotalMs / r.Local.EngineMs).ToList();
            var perCall = others[c].Zip(rounds, (o, r) => o.TotalMs / r.Server.TotalMs).ToList();
            var name = (char)('B' + c);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"- {compared[c].Label} ({name}) against this build (A), same rounds: the rest (non-engine threads) {name}/A median {Median(rest):0.000} (rounds " +
                $"{string.Join(", ", rest.Select(v => v.ToString("0.000", CultureInfo.InvariantCulture)))}); server CPU per inference {name}/A median {Median(perCall):0.000} " +
                $"(rounds {string.Join(", ", perCall.Select(v => v.ToString("0.000", CultureInfo.InvariantCulture)))}); {name}'s server / in-process engine median " +
                $"{Median(total):0.000} (rounds {string.Join(", ", total.Select(v => v.ToString("0.000", CultureInfo.InvariantCulture)))})"));
        }
    }

    // Stops the compared servers when the scenario ends.
    private sealed class CompareCleanup(List<(string Label, ServerProcess Server)> compared) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            foreach (var (_, server) in compared)
            {
                await server.DisposeAsync();
            }
        }
    }

    private static void Write(BenchOptions options, List<(Side Server, Side Local, double Load)> rounds)
    {
        // The issue's ratio: the server's whole CPU per inference over ONNX Runtime's CPU per run in process (the
        // engine's threads there: the benchmark's client loops are not ONNX Runtime's cost and are not counted).
        var total = rounds.Select(r => r.Server.TotalMs / r.Local.EngineMs).ToList();
        var engine = rounds.Select(r => r.Server.EngineMs / r.Local.EngineMs).ToList();
        var http = rounds.Select(r => r.Server.OtherMs / r.Local.EngineMs).ToList();
        var wholeProcess = rounds.Select(r => r.Server.TotalMs / r.Local.TotalMs).ToList();
        var md = new StringBuilder();
        md.AppendLine(CultureInfo.InvariantCulture, $"`dotnet bench/Maas.Bench/bin/Release/net10.0/Maas.Bench.dll --only ultraface-cpu --rounds {options.Rounds} --seconds " +
            $"{options.Seconds:0.#} --warmup-seconds " +
            $"{options.WarmupSeconds:0}`" +
            $"{(options.ServerEnvironment.Count > 0 ? " with " + string.Join(", ", options.ServerEnvironment.Select(kv => $"`{kv.Key}={kv.Value}`")) : "")}, " +
            $"{DateTimeOffset.UtcNow:yyyy-MM-dd HH:mm} UTC:");
        md.AppendLine();
        md.AppendLine("| round | load average | server ms CPU / inference | ... engine threads | ... the rest (HTTP, thread pool, GC, JIT) | in process: engine ms CPU / run | " +
            "... client loops | server / in-process engine | engine / engine |");
        md.AppendLine("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
        for (var i = 0; i < rounds.Count; i++)
        {
            var (s, l, load) = rounds[i];
            md.AppendLine(CultureInfo.InvariantCulture, $"| {i + 1} | {load:0.0} | {s.TotalMs:0.000} | {s.EngineMs:0.000} | {s.OtherMs:0.000} | {l.EngineMs:0.000} | " +
                $"{l.OtherMs:0.000} | {total[i]:0.000} | {engine[i]:0.000} |");
        }

        md.AppendLine();
        md.AppendLine(CultureInfo.InvariantCulture, $"- server CPU per inference / in-process engine CPU per run: median **{Median(total):0.000}** (min {total.Min():0.000}, " +
            $"max {total.Max():0.000}); within 5%: **{(Median(total) <= 1.05 ? "yes" : "no")}**");
        md.AppendLine(CultureInfo.InvariantCulture,
            $"- the server's engine threads / in-process engine threads: median {Median(engine):0.000} (min {engine.Min():0.000}, max {engine.Max():0.000})");
        md.AppendLine(CultureInfo.InvariantCulture,
            $"- the server's other threads, as a share of the in-process engine's CPU: median {Median(http):0.000} (min {http.Min():0.000}, max {http.Max():0.000})");
        md.AppendLine(CultureInfo.InvariantCulture, $"- whole processes (the benchmark's client loops counted in process): median {Median(wholeProcess):0.000} (min " +
            $"{wholeProcess.Min():0.000}, max {wholeProcess.Max():0.000})");
        Console.WriteLine(md);
        var json = new JsonObject
        {
            ["date"] = DateTimeOffset.UtcNow.ToString("u", CultureInfo.InvariantCulture),
            ["rounds"] = new JsonArray([.. rounds.Select(r => (JsonNode)new JsonObject
            {
                ["load_average"] = r.Load,
                ["server_ms_per_inference"] = r.Server.TotalMs,
                ["server_engine_ms"] = r.Server.EngineMs,
                ["server_other_ms"] = r.Server.OtherMs,
                ["in_process_engine_ms"] = r.Local.EngineMs,
                ["in_process_client_ms"] = r.Local.OtherMs,
            })]),
            ["ratio_median"] = Median(total),
            ["engine_ratio_median"] = Median(engine),
        };
        if (!options.Write)
        {
            return; // a trial (--write no): printed only, the reference results stay
        }

        Directory.CreateDirectory(Path.GetDirectoryName(options.JsonPath)!);
        File.WriteAllText(Path.Combine(Path.GetDirectoryName(options.JsonPath)!, "ultraface-cpu.json"), json.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
    }

    /// <summary>A thread of the engine: a scheduler worker of the model or one of ONNX Runtime's threads of its sessions.</summary>
    private static Func<string, bool> EngineThreads(string model)
    {
        var worker = $"maas-{model}-";
        var onnx = Maas.Runtimes.Onnx.Serving.OnnxBackend.ThreadName(model);
        // Linux keeps 15 characters of a thread's name: "maas-ultraface-1-0" reads "maas-ultraface-".
        return name => name == onnx || name.StartsWith(worker, StringComparison.Ordinal) || (name.Length == 15 && worker.StartsWith(name, StringComparison.Ordinal));
    }

    // workItems: the side's thread pool work items completed so far (hand-offs between threads), or null when unknown.
    private static async Task<Side> MeasureAsync(int pid, Func<string, bool> engine, int clients, double seconds, Func<int, CancellationToken, Task<bool>> call,
        Func<long?> workItems)
    {
        Dictionary<int, (string Name, long Ticks)>? before = null, after = null;
        long? itemsBefore = null, itemsAfter = null;
        var m = await LoadGenerator.RunAsync("measure", clients, seconds, call, serverCpu: () =>
        {
            var snapshot = ThreadTicks(pid);
            if (before is null)
            {
                before = snapshot;
                itemsBefore = workItems();
            }
            else
            {
                after = snapshot;
                itemsAfter = workItems();
            }

            return TimeSpan.Zero;
        });
        var calls = (int)m.Calls;
        var ms = 1000.0 / 100; // clock ticks of /proc's stat (USER_HZ, 100 on Linux)
        var deltas = after!.Select(t => (t.Value.Name,
            Ms: (t.Value.Ticks - (before!.TryGetValue(t.Key, out var b) && b.Name == t.Value.Name ? b.Ticks : 0)) * ms / Math.Max(1, calls))).ToList();
        var engineMs = deltas.Where(d => engine(d.Name)).Sum(d => d.Ms);
        var totalMs = deltas.Sum(d => d.Ms);
        var top = deltas.GroupBy(d => d.Name).Select(g => (g.Key, g.Sum(d => d.Ms))).Where(g => g.Item2 > 0).OrderByDescending(g => g.Item2).Take(8).ToList();
        var items = itemsAfter is { } a && itemsBefore is { } b0 ? (double)(a - b0) / Math.Max(1, calls) : double.NaN;
        return new Side(totalMs, engineMs, totalMs - engineMs, calls, top, items);
    }

    /// <summary>Each thread's name and user + system CPU so far, in clock ticks.</summary>
    private static Dictionary<int, (string Name, long Ticks)> ThreadTicks(int pid)
    {
        var result = new Dictionary<int, (string, long)>();
        foreach (var task in Directory.EnumerateDirectories($"/proc/{pid}/task"))
        {
            try
            {
                var stat = File.ReadAllText(Path.Combine(task, "stat"));
                var open = stat.IndexOf('(', StringComparison.Ordinal);
                var close = stat.LastIndexOf(')');
                var fields = stat[(close + 2)..].Split(' ');
                // Fields 14 and 15 of stat (utime, stime); after the name, field 3 (state) is the first.
                result[int.Parse(Path.GetFileName(task), CultureInfo.InvariantCulture)] = (stat[(open + 1)..close],
                    long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture));
            }
            catch (IOException)
            {
                // the thread ended meanwhile
            }
        }

        return result;
    }

    private static string Join(IEnumerable<double> values) => string.Join(", ", values.Select(v => v.ToString("0.000", CultureInfo.InvariantCulture)));

    private static double LoadAverage() =>
        double.Parse(File.ReadAllText("/proc/loadavg").Split(' ')[0], CultureInfo.InvariantCulture);

    private static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length == 0 ? double.NaN : sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[(sorted.Length / 2) - 1] + sorted[sorted.Length / 2]) / 2;
    }
}
