using System.Globalization;
using Maas.Bench;

// maas bench: ONNX serving throughput and latency, the server next to ONNX Runtime in process.
//   dotnet run -c Release --project bench/Maas.Bench [-- --seconds 4 --rounds 3 --overhead-rounds 12 --overhead-seconds 3 --only ultraface,batching,latency,overhead --write no]
//   ... -- --only overload [--overload-seconds 20]: goodput under 5x and 50x overload (not run by default: it takes a few minutes)
//   ... -- --only eviction: N models under a memory budget for N/3, Zipf-skewed calls (hit rate, miss latency, RSS vs budget)
// ... -- --only deployment-sync [--postgres 'Host=127.0.0.1;Port=55432;Username=postgres;Database=postgres']: two servers on one database, how soon the second sees a deployment
// change made on the first (SQLite, and PostgreSQL in the same run when given)   ... -- --only training-serving: an MLP's REST throughput idle and while a Fashion-MNIST training
// job runs on the same server ... -- --only ultraface-cpu [--rounds 8 --seconds 10 --warmup-seconds 60 --compare-env KEY=VALUE --baseline other/Maas.Bench.dll --floor
// yes|kestrel]: UltraFace's server CPU per inference against ONNX Runtime's in process, per thread, with thread-pool work items per inference; the compared servers in the same
// rounds (console and bench/results/ultraface-cpu.json)   ... -- --only baseline --baseline ../other-worktree/bench/Maas.Bench/bin/Release/net10.0/Maas.Bench.dll: this build's
// server against another build's With --only, the scenarios not run keep their previous results in docs/benchmarks.md and bench/results/onnx-serving.json. "serve" is the
// child-process mode the benchmark starts the server in.
if (args.Length > 0 && args[0] == FloorServer.Mode)
{
    await FloorServer.ServeAsync(args[1..]);
    return 0;
}

if (args.Length > 0 && args[0] == "serve")
{
    await ServerProcess.ServeAsync(args[1..]);
    return 0;
}

var options = BenchOptions.Parse(args);
Console.WriteLine($"maas bench: {options.Seconds} s per measurement, {options.Rounds} alternating rounds (overhead: {options.OverheadRounds} of {options.OverheadSeconds} s), " +
    $"{Environment.ProcessorCount} cores");
var report = new BenchReport(options);
if (options.Runs("latency") || options.Runs("batching") || options.Runs("ultraface"))
{
    await using var server = await ServerProcess.StartAsync(options);
    if (options.Runs("latency"))
    {
        report.Add(await Scenarios.LatencyAsync(server, options));
    }

    if (options.Runs("batching"))
    {
        report.Add(await Scenarios.BatchingAsync(server, options));
    }

    if (options.Runs("ultraface"))
    {
        report.Add(await Scenarios.UltraFaceAsync(server, options));
    }
}

if (options.Runs("baseline"))
{
    await BaselineComparison.RunAsync(options);
}

if (options.Runs("ultraface-cpu"))
{
    await UltraFaceCpuScenario.RunAsync(options);
}

if (options.Runs("eviction"))
{
    await EvictionScenario.RunAsync(options);
}

if (options.Runs("deployment-sync"))
{
    await DeploymentSyncScenario.RunAsync(options);
}

if (options.Runs("training-serving"))
{
    await TrainingServingScenario.RunAsync(options);
}

if (options.Runs("overhead"))
{
    report.Add(await Scenarios.ObservabilityOverheadAsync(options));
}

if (options.Runs("overload"))
{
    report.Add(await OverloadScenario.RunAsync(options));
}

if (Directory.Exists(Scenarios.ScratchFolder))
{
    Directory.Delete(Scenarios.ScratchFolder, recursive: true);
}

if (options.Write && options.Only.Except(["baseline", "ultraface-cpu", "eviction", "deployment-sync", "training-serving"]).Any())
{
    report.Write();
    Console.WriteLine($"wrote {options.JsonPath} and the ONNX serving section of {options.DocsPath} ({string.Join(", ", options.Only)})");
}
return 0;

/// <summary>Command-line settings of the benchmark.</summary>
internal sealed record BenchOptions
{
    public double Seconds { get; init; } = 4;

    public int Rounds { get; init; } = 3;

    /// <summary>
    /// Rounds of the overhead scenario: many short ones, as the loss it looks for is a few percent and the shared
    /// machine's bursts of other work last seconds; short turns spread a burst over all three servers instead of
    /// landing on one. A multiple of its three modes, so each goes first equally often.
    /// </summary>
    public int OverheadRounds { get; init; } = 12;

    /// <summary>Seconds per measurement in the overhead scenario (each also has a quarter of that to warm up).</summary>
    public double OverheadSeconds { get; init; } = 3;

    public int RoundsFor(string scenario) => scenario switch { "overhead" => OverheadRounds, "overload" => 1, _ => Rounds };

    public double SecondsFor(string scenario) => scenario switch { "overhead" => OverheadSeconds, "overload" => OverloadSeconds, _ => Seconds };

    /// <summary>Seconds per step of the overload scenario (each step also warms up for a quarter of it, at most 2 s).</summary>
    public double OverloadSeconds { get; init; } = 20;

    /// <summary>Seconds the ultraface-cpu scenario drives the server before measuring: the JIT's tiering is over by then.</summary>
    public double WarmupSeconds { get; init; } = 60;

    public HashSet<string> Only { get; init; } = ["latency", "batching", "ultraface", "overhead"];

    public string RepoRoot { get; init; } = FindRepoRoot();

    /// <summary>False for trial runs (--write no): results go to the console only.</summary>
    public bool Write { get; init; } = true;

    public string JsonPath => Path.Combine(RepoRoot, "bench", "results", "onnx-serving.json");

    public string DocsPath => Path.Combine(RepoRoot, "docs", "benchmarks.md");

    /// <summary>Another build's Maas.Bench.dll, whose server the "baseline" and "ultraface-cpu" scenarios run next to this build's.</summary>
    public string? Baseline { get; init; }

    /// <summary>Environment variables for this build's server in the "baseline" scenario (--server-env KEY=VALUE, repeatable).</summary>
    public IReadOnlyDictionary<string, string> ServerEnvironment { get; init; } = new Dictionary<string, string>();

    /// <summary>Environment variables of a second server the ultraface-cpu scenario measures in the same rounds (--compare-env KEY=VALUE, repeatable).</summary>
    public IReadOnlyDictionary<string, string> CompareEnvironment { get; init; } = new Dictionary<string, string>();

    /// <summary>The ultraface-cpu scenario also measures the floor server (--floor yes): the smallest HTTP server over the same engine.</summary>
    public bool Floor { get; init; }

    /// <summary>The floor server runs on Kestrel with its defaults instead (--floor kestrel): one endpoint, no middleware.</summary>
    public bool FloorOnKestrel { get; init; }

    /// <summary>ultraface-cpu: also measure a server driven through the system shared memory extension (--shm yes).</summary>
    public bool SharedMemory { get; init; }

    /// <summary>An Npgsql connection string of a PostgreSQL server where deployment-sync may create (and drop) a database of its own.</summary>
    public string? Postgres { get; init; }

    public bool Runs(string scenario) => Only.Contains(scenario);

    public static BenchOptions Parse(string[] args)
    {
        var options = new BenchOptions();
        for (var i = 0; i + 1 < args.Length; i += 2)
        {
            options = args[i] switch
            {
                "--seconds" => options with { Seconds = double.Parse(args[i + 1], CultureInfo.InvariantCulture) },
                "--rounds" => options with { Rounds = int.Parse(args[i + 1], CultureInfo.InvariantCulture) },
                "--overhead-rounds" => options with { OverheadRounds = int.Parse(args[i + 1], CultureInfo.InvariantCulture) },
                "--overhead-seconds" => options with { OverheadSeconds = double.Parse(args[i + 1], CultureInfo.InvariantCulture) },
                "--overload-seconds" => options with { OverloadSeconds = double.Parse(args[i + 1], CultureInfo.InvariantCulture) },
                "--warmup-seconds" => options with { WarmupSeconds = double.Parse(args[i + 1], CultureInfo.InvariantCulture) },
                "--only" => options with { Only = [.. args[i + 1].Split(',')] },
                "--write" => options with { Write = args[i + 1] != "no" },
                "--baseline" => options with { Baseline = Path.GetFullPath(args[i + 1]) },
                "--compare-env" => options with
                {
                    CompareEnvironment = new Dictionary<string,
                    string>(options.CompareEnvironment)
                    { [args[i + 1].Split('=')[0]] = args[i + 1][(args[i + 1].IndexOf('=', StringComparison.Ordinal) + 1)..] }
                },
                "--postgres" => options with { Postgres = args[i + 1] },
                "--floor" => options with { Floor = args[i + 1] is "yes" or "kestrel", FloorOnKestrel = args[i + 1] == "kestrel" },
                "--shm" => options with { SharedMemory = args[i + 1] == "yes" },
                "--server-env" => options with
                {
                    ServerEnvironment = new Dictionary<string,
                    string>(options.ServerEnvironment)
                    { [args[i + 1].Split('=')[0]] = args[i + 1][(args[i + 1].IndexOf('=', StringComparison.Ordinal) + 1)..] }
                },
                _ => throw new ArgumentException($"unknown option {args[i]}; use --seconds, --rounds, --overhead-rounds, --overhead-seconds, --overload-seconds, " +
                    $"--warmup-seconds, --only, --write, --baseline, --server-env, --compare-env, --postgres, --floor, --shm"),
            };
        }

        return options;
    }

    private static string FindRepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Maas.slnx")))
            {
                return dir.FullName;
            }
        }

        return Directory.GetCurrentDirectory();
    }
}
