using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using Maas.Bench.Llm;
using Maas.Core.Formats.Gguf;

// MaaS vs llama-server on the same generated random-weight Llama (~270M parameters, Q8_0), same threads, one run.
// dotnet run -c Release --project bench/Maas.Bench.Llm [-- --threads 2 --tokens 48 --rounds 5 --only plainx8,shared --compare PromptAdmission=staggered --compare-kv --quick
// --no-write --no-llama-server --engine-log --defaults] Logs go to ~/.cache/maas/bench: llama-server.log, maas.log and maas-other.log, maas-other2.log, ... (--engine-log: with
// each request's timeline in the engine and the host prompt cache's saves and restores, the engine's Debug lines).
if (args is [MaasProcess.ServeCommand, ..])
{
    await MaasProcess.ServeAsync(args[1..]);
    return;
}

var argsList = args.ToList();
int Arg(string name, int fallback) => argsList.IndexOf(name) is var i and >= 0 ? int.Parse(argsList[i + 1], CultureInfo.InvariantCulture) : fallback;
var quick = argsList.Contains("--quick");
var threads = Arg("--threads", Environment.ProcessorCount);
var maxTokens = Arg("--tokens", quick ? 16 : 48);
// --defaults: each server with its own defaults (no slots, context, threads or batch given to either), as a user who
// starts both gets them; the section in docs/benchmarks.md is then left alone (the run is printed only).
var defaults = argsList.Contains("--defaults");
var slots = defaults ? new Maas.Core.Llm.LlmServingOptions().Slots : 16;
var contextPerSlot = 2048;
var repoRoot = FindRepoRoot();
var cache = Path.Combine(Environment.GetEnvironmentVariable("XDG_CACHE_HOME") is { Length: > 0 } x ? x
    : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache"), "maas", "bench");
Directory.CreateDirectory(cache);

// 1. The model: written by our own GGUF writer, Q8_0, reused across runs.
var modelOptions = GgufLlamaModelOptions.Benchmark with { WeightType = GgmlType.Q8_0 };
var modelPath = Path.Combine(cache, "bench-llama-270m-q8_0.gguf");
if (!File.Exists(modelPath))
{
    Console.WriteLine($"writing {modelPath} ({modelOptions.ParameterCount / 1e6:F0}M parameters, Q8_0)");
    GgufLlamaModelFactory.Write(modelPath, modelOptions);
}

// 2. llama-server, built from the same llama.cpp source by bench/llama-server/build.sh (--no-llama-server: MaaS
// alone, with --compare the only reference, while llama-server is still being built on a busy machine).
var withLlamaServer = !argsList.Contains("--no-llama-server");
Console.WriteLine(withLlamaServer ? "building (or finding) llama-server ..." : "without llama-server");
var llamaServerBin = withLlamaServer ? RunScript(Path.Combine(repoRoot, "bench", "llama-server", "build.sh")) : "";
var llamaPort = FreePort();
string[] llamaArgs =
[
    "-m", modelPath, "--host", "127.0.0.1", "--port", llamaPort.ToString(CultureInfo.InvariantCulture), "--no-webui",
    .. defaults ? Array.Empty<string>() :
    [
        "-t", threads.ToString(CultureInfo.InvariantCulture), "-tb", threads.ToString(CultureInfo.InvariantCulture),
        "-np", slots.ToString(CultureInfo.InvariantCulture), "-c", (slots * contextPerSlot).ToString(CultureInfo.InvariantCulture),
        "-b", "512", "-ub", "512",
    ],
];
using var llamaServer = !withLlamaServer ? null : Process.Start(new ProcessStartInfo(llamaServerBin, llamaArgs)
{
    RedirectStandardOutput = true,
    RedirectStandardError = true,
})!;
var llamaLog = TextWriter.Synchronized(new StreamWriter(Path.Combine(cache, "llama-server.log")) { AutoFlush = true });
if (llamaServer is not null)
{
    AppDomain.CurrentDomain.UnhandledException += (_, _) => llamaServer.Kill(entireProcessTree: true); // a failed run leaves no server behind
    llamaServer.OutputDataReceived += (_, e) => llamaLog.WriteLine(e.Data);
    llamaServer.ErrorDataReceived += (_, e) => llamaLog.WriteLine(e.Data);
    llamaServer.BeginOutputReadLine();
    llamaServer.BeginErrorReadLine();
}

// 3. MaaS, in its own process, with the same slots, context and threads; the model registered through its API.
var dataDir = Path.Combine(Path.GetTempPath(), "maas-bench-llm-" + Guid.NewGuid().ToString("N"));
var maasPort = FreePort();
var maasUrl = $"http://127.0.0.1:{maasPort}";
const string adminKey = "maas-bench-admin-key-0123456789abcdef";
string[] MaasArgs(string url, string data) =>
[
    "--urls", url, "--Maas:DataDir=" + data, "--Maas:Llm:Demo=false", "--Maas:Inference:Demo=false", "--Maas:Inference:GrpcUrl=",
    "--Maas:Auth:AdminKey=" + adminKey,
    "--Maas:Llm:KeepAliveSeconds=0", // a server idle while the others run keeps its engine, and the statistics read at the end
    .. defaults ? Array.Empty<string>() : [$"--Maas:Llm:Slots={slots}", $"--Maas:Llm:ContextPerSlot={contextPerSlot}", $"--Maas:Llm:Threads={threads}", "--Maas:Llm:BatchSize=512"],
    "--Logging:LogLevel:Default=Warning", "--Logging:Console:FormatterName=simple", "--Logging:Console:FormatterOptions:SingleLine=true",
    .. argsList.Contains("--engine-log") ? ["--Logging:LogLevel:" + typeof(Maas.Runtimes.Llama.Serving.LlamaEngine).FullName + "=Debug"] : Array.Empty<string>(),
];
TextWriter LogFile(string name) => TextWriter.Synchronized(new StreamWriter(Path.Combine(cache, name)) { AutoFlush = true });
var maas = await MaasProcess.StartAsync(MaasArgs(maasUrl, dataDir), LogFile("maas.log"));

// --compare KEY=VALUE[,KEY=VALUE]: another MaaS with other Maas:Llm settings, measured alongside; given more than once,
// one MaaS each (--compare PromptAdmission=batched beside the default is an A/A twin: how much two processes of the
// same settings differ). --compare-kv is short for --compare UnifiedKvCache=true.
var compares = argsList.Select((a, i) => (a, i)).Where(x => x.a == "--compare").Select(x => argsList[x.i + 1].Split(',')).ToList();
if (compares.Count == 0 && argsList.Contains("--compare-kv"))
{
    compares.Add(["UnifiedKvCache=true"]);
}

var others = new List<(string Name, string Url, string Dir, MaasProcess Process)>();
foreach (var (settings, i) in compares.Select((x, i) => (x, i)))
{
    var name = $"MaaS ({string.Join(", ", settings)})";
    name += others.Any(o => o.Name == name) ? $" #{i + 1}" : "";
    var url = $"http://127.0.0.1:{FreePort()}";
    var dir = $"{dataDir}-other{i + 1}";
    var log = i == 0 ? "maas-other.log" : $"maas-other{i + 1}.log";
    others.Add((name, url, dir, await MaasProcess.StartAsync([.. MaasArgs(url, dir), .. settings.Select(x => "--Maas:Llm:" + x)], LogFile(log))));
}

using var http = new HttpClient(new SocketsHttpHandler { PooledConnectionIdleTimeout = TimeSpan.FromSeconds(2) }) { Timeout = TimeSpan.FromMinutes(10) };
http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", adminKey); // llama-server ignores it
await RegisterAsync(http, maasUrl, "bench-270m", modelPath);
foreach (var other in others)
{
    await RegisterAsync(http, other.Url, "bench-270m", modelPath);
}
if (llamaServer is not null)
{
    await WaitReadyAsync(http, $"http://127.0.0.1:{llamaPort}/health");
}

TimeSpan LlamaServerCpu()
{
    llamaServer!.Refresh();
    return llamaServer.TotalProcessorTime;
}

var servers = new List<(string Name, ChatWorkload Workload, Func<TimeSpan> Cpu)>
{
    ("MaaS", new ChatWorkload(http, maasUrl, "bench-270m", maxTokens), maas.CpuTime),
};
if (llamaServer is not null)
{
    servers.Add(("llama-server", new ChatWorkload(http, $"http://127.0.0.1:{llamaPort}", "bench-270m", maxTokens), LlamaServerCpu));
}

foreach (var other in others)
{
    servers.Add((other.Name, new ChatWorkload(http, other.Url, "bench-270m", maxTokens), other.Process.CpuTime));
}

// Warm-up: load MaaS's engine, then a burst at full concurrency on each server (JIT, thread pools, connections).
foreach (var (_, w, _) in servers)
{
    await w.RunAsync("", "warmup", 1, 1, null, 100_000);
    await w.RunAsync("", "warmup", slots, slots, null, 100_001);
}

var results = new List<ScenarioResult>();
var loadBefore = LoadAverage();
var systemPrompt = ChatWorkload.SystemPrompt(400);
var conversationPrompt = ChatWorkload.SystemPrompt(100);
var scenarios = new List<(string Name, int Concurrency, int Requests, string? System)>
{
    ("plain", 1, quick ? 2 : 6, null),
    ("plain", 8, quick ? 8 : 32, null),
    ("plain", 16, quick ? 16 : 48, null),
    ("shared-400-word-system-prompt", 8, quick ? 8 : 32, systemPrompt),

    // 20 conversations (more than the slots) of 3 turns each over 8 streams; requests = conversations x turns.
    ("multi-turn", 8, quick ? 16 : 60, conversationPrompt),

    // 4 distinct 200-word prompts recurring word for word.
    ("recurring-identical-prompts", 8, quick ? 16 : 32, null),
};
const int Turns = 3;
var rounds = Arg("--rounds", quick ? 1 : 5);
var only = argsList.IndexOf("--only") is var o and >= 0 ? argsList[o + 1] : null;
if (only is not null)
{
    // Comma-separated "<scenario>x<streams>" names or prefixes, e.g. "plainx8,shared"; a whole name means that
    // scenario alone ("plainx1" is not also "plainx16").
    var wanted = only.Split(',');
    var names = scenarios.Select(x => $"{x.Name}x{x.Concurrency}").ToHashSet();
    scenarios.RemoveAll(x => !wanted.Any(w => $"{x.Name}x{x.Concurrency}" is var name && (name == w || (!names.Contains(w) && name.StartsWith(w, StringComparison.Ordinal)))));
}

var seed = 0;
foreach (var (name, concurrency, requests, system) in scenarios)
{
    // The two servers take turns, round after round (who goes first alternates), so drift on a noisy machine
    // hits both alike; tokens/s is the median round's, latency percentiles pool every request of every round.
    var perServer = servers.ToDictionary(s => s.Name, _ => new List<ScenarioResult>());
    for (var round = 0; round < rounds; round++)
    {
        // Rotate who goes first, so a drift within a round favours none.
        foreach (var (server, workload, cpu) in servers.Skip(round % servers.Count).Concat(servers.Take(round % servers.Count)))
        {
            if (system is not null && round == 0)
            {
                await workload.RunAsync(server, "prime", 1, 1, system, 200_000); // a first caller with the prompt, as in production
            }

            var cpuBefore = cpu();
            var r = name switch
            {
                "multi-turn" => await workload.RunConversationsAsync(server, name, concurrency, requests / Turns, Turns, system!, seed + (round * requests)),
                "recurring-identical-prompts" => await workload.RunRecurringAsync(server, name, concurrency, requests, distinct: 4, words: 200),
                _ => await workload.RunAsync(server, name, concurrency, requests, system, seed + (round * requests)),
            };
            r = r with { CpuSeconds = (cpu() - cpuBefore).TotalSeconds };
            Console.WriteLine($"{server}: {name} x{concurrency} round {round + 1}: {r.TokensPerSecond:F1} tok/s, TTFT p50 {r.TtftP50:F0} ms, ITL p50 {r.ItlP50:F1} ms, cached " +
                $"{r.Samples.Average(x => x.CachedTokens):F0}, server CPU {r.CpuMsPerToken:F1} ms/token"
                + (r.Failed == 0 ? "" : $", {r.Failed} FAILED (first: {r.Samples.First(x => x.Failed).Error})")
                + (r.Turns.Count == 0 ? "" : "; TTFT p50 by turn: " + string.Join(", ", r.Turns.Select(t => $"{t}: {r.TtftP50OfTurn(t):F0} ms (cached {r.CachedOfTurn(t):F0})"))));
            perServer[server].Add(r);
        }
    }

    results.AddRange(servers.Select(s => ScenarioResult.Combine(perServer[s.Name])));
    seed += rounds * requests;
}

var engines = await http.GetStringAsync(maasUrl + "/api/v1/llm/engines");
foreach (var other in others)
{
    // Printed only (the report keeps the default server's): how the other settings batched, passes per step included.
    Console.WriteLine($"{other.Name} engine statistics: {await http.GetStringAsync(other.Url + "/api/v1/llm/engines")}");
}

if (llamaServer is not null)
{
    llamaServer.Kill(entireProcessTree: true);
    await llamaServer.WaitForExitAsync();
}

llamaLog.Flush();
await maas.DisposeAsync();
foreach (var other in others)
{
    await other.Process.DisposeAsync();
}

foreach (var dir in others.Select(x => x.Dir).Prepend(dataDir).Where(Directory.Exists))
{
    try
    {
        Directory.Delete(dir, recursive: true);
    }
    catch (IOException)
    {
    }
}

var setup = defaults
    ? "Each server with its own defaults (neither given slots, context, threads or batch): MaaS as `Maas:Llm` defaults it, llama-server as its command line does (its log, " +
        "llama-server.log, says what it chose). "
    : null;
var section = Report.Markdown(results, modelOptions, threads, slots, contextPerSlot, maxTokens, rounds, engines, $"{loadBefore} at the start, {LoadAverage()} at the end", args,
    setup);
Console.WriteLine(section);
if (!argsList.Contains("--no-write") && !defaults)
{
    Report.WriteSection(Path.Combine(repoRoot, "docs", "benchmarks.md"), section);
    Console.WriteLine("written to docs/benchmarks.md");
}

static async Task RegisterAsync(HttpClient http, string baseUrl, string name, string path)
{
    using var create = await http.PostAsync(baseUrl + "/api/v1/models",
        new StringContent($$"""{"name":"{{name}}","task":"text-generation"}""", System.Text.Encoding.UTF8, "application/json"));
    create.EnsureSuccessStatusCode();
    await using var file = File.OpenRead(path);
    using var content = new StreamContent(file);
    content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
    using var request = new HttpRequestMessage(HttpMethod.Post, $"{baseUrl}/api/v1/models/{name}/versions") { Content = content };
    request.Headers.Add("X-Maas-Filename", Path.GetFileName(path));
    using var upload = await http.SendAsync(request);
    if (!upload.IsSuccessStatusCode)
    {
        throw new InvalidOperationException("upload failed: " + await upload.Content.ReadAsStringAsync());
    }
}

static async Task WaitReadyAsync(HttpClient http, string url)
{
    for (var i = 0; i < 600; i++)
    {
        try
        {
            using var r = await http.GetAsync(url);
            if (r.IsSuccessStatusCode)
            {
                return;
            }
        }
        catch (HttpRequestException)
        {
        }

        await Task.Delay(200);
    }

    throw new TimeoutException(url + " did not become ready");
}

static string RunScript(string script)
{
    using var p = Process.Start(new ProcessStartInfo("bash", [script]) { RedirectStandardOutput = true })!;
    var output = p.StandardOutput.ReadToEnd();
    p.WaitForExit();
    if (p.ExitCode != 0)
    {
        throw new InvalidOperationException($"{script} failed with exit code {p.ExitCode}");
    }

    return output.Trim().Split('\n')[^1];
}

static int FreePort()
{
    using var l = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
    l.Start();
    return ((System.Net.IPEndPoint)l.LocalEndpoint).Port;
}

// The 1-minute load average (Linux): how busy the shared machine was, for reading the ratios.
static string LoadAverage() => File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Split(' ')[0] : "n/a";

// Above the build output, or above the working folder (a build with --artifacts-path lives outside the repository).
static string FindRepoRoot()
{
    foreach (var start in new[] { AppContext.BaseDirectory, Environment.CurrentDirectory })
    {
        for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Maas.slnx")))
            {
                return dir.FullName;
            }
        }
    }

    throw new InvalidOperationException("run from inside the repository");
}
