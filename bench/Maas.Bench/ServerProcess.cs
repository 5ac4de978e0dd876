using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json;
using Maas.Server;
using Maas.Server.Auth;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Maas.Bench;

/// <summary>The MaaS server under test, in its own process (its own GC and thread pool), on loopback.</summary>
internal sealed class ServerProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly string _dataDir;

    private ServerProcess(Process process, string dataDir, Uri http, Uri grpc)
    {
        _process = process;
        _dataDir = dataDir;
        Http = http;
        Grpc = grpc;
        Client = new HttpClient { BaseAddress = http, Timeout = TimeSpan.FromMinutes(2) };
        Client.DefaultRequestHeaders.Authorization = new("Bearer", AdminKey);
    }

    public Uri Http { get; }

    /// <summary>The server's process id (for /proc).</summary>
    public int Pid => _process.Id;

    public Uri Grpc { get; }

    /// <summary>The admin key the server is started with; every client sends it (the auth gate is always on).</summary>
    public static string AdminKey { get; } = "bench-" + Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(16));

    public HttpClient Client { get; }

    private long _peakRss;

    /// <summary>
    /// The largest resident set size of the server seen since the last reset, in bytes, after sampling it now;
    /// <paramref name="reset"/> starts again from the current size.
    /// </summary>
    public long PeakRss(bool reset)
    {
        lock (_process)
        {
            _process.Refresh();
            var now = _process.WorkingSet64;
            _peakRss = reset ? now : Math.Max(_peakRss, now);
            return _peakRss;
        }
    }

    /// <summary>The CPU time the server process has used so far (user and system).</summary>
    public TimeSpan CpuTime()
    {
        lock (_process)
        {
            _process.Refresh();
            return _process.TotalProcessorTime;
        }
    }

    /// <summary>The child's entry: runs the real server app until stdin closes.</summary>
    public static async Task ServeAsync(string[] args)
    {
        // --trace-listener: record every span in process, as an exporter would (minus sending them anywhere).
        using var listener = args.Contains(TraceListenerFlag) ? SpanCounter.Start() : null;
        var app = MaasApp.Create([.. args.Where(a => a != TraceListenerFlag)]);
        // The thread pool's completed work items so far: the benchmark counts hand-offs between threads per request.
        app.MapGet(ThreadPoolPath, () => Results.Text(ThreadPool.CompletedWorkItemCount.ToString(System.Globalization.CultureInfo.InvariantCulture)))
            .RequireScope(Maas.Core.Tenancy.MaasScopes.Admin);
        await app.StartAsync();
        Console.WriteLine("READY");
        await Console.In.ReadToEndAsync(); // the parent closes stdin to stop us
        await app.StopAsync();
        if (listener is not null)
        {
            Console.Error.WriteLine($"spans recorded: {SpanCounter.Recorded}");
        }
    }

    /// <summary>Where a serve-mode server answers its thread pool's completed work item count (builds before it: 404).</summary>
    public const string ThreadPoolPath = "/bench/thread-pool";

    /// <summary>The server's thread pool's completed work items so far, or null when its build does not say.</summary>
    public long? ThreadPoolWorkItems()
    {
        using var response = Client.GetAsync(ThreadPoolPath).GetAwaiter().GetResult();
        return response.IsSuccessStatusCode && long.TryParse(response.Content.ReadAsStringAsync().GetAwaiter().GetResult(), out var n) ? n : null;
    }

    /// <summary>The serve-mode flag that turns the in-process span listener on.</summary>
    public const string TraceListenerFlag = "--trace-listener";

    public static Task<ServerProcess> StartAsync(BenchOptions options, params string[] extraArgs) => StartAsync(options, null, extraArgs);

    /// <summary>
    /// Starts a server; <paramref name="entryAssembly"/> runs another build's benchmark (its "serve" mode) instead of
    /// this one, <paramref name="environment"/> adds variables to the server's environment (runtime knobs).
    /// </summary>
    public static async Task<ServerProcess> StartAsync(BenchOptions options, string? entryAssembly, string[] extraArgs, IReadOnlyDictionary<string, string>? environment = null)
    {
        // A port picked free can be taken by the time the child binds it (other benchmarks' clients): try again.
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await TryStartAsync(entryAssembly, extraArgs, environment);
            }
            catch (InvalidOperationException ex) when (attempt < 3)
            {
                Console.Error.WriteLine($"server start failed ({ex.Message}); retrying");
            }
        }
    }

    private static async Task<ServerProcess> TryStartAsync(string? entryAssembly, string[] extraArgs, IReadOnlyDictionary<string, string>? environment)
    {
        var dataDir = Directory.CreateTempSubdirectory("maas-bench-").FullName;
        var (httpPort, grpcPort) = FreePorts();
        var entry = entryAssembly ?? typeof(ServerProcess).Assembly.Location;
        var host = entryAssembly is null ? Environment.ProcessPath! : "dotnet";
        var info = new ProcessStartInfo(host)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var (key, value) in environment ?? new Dictionary<string, string>())
        {
            info.Environment[key] = value;
        }

        if (Path.GetFileNameWithoutExtension(host) == "dotnet")
        {
            info.ArgumentList.Add(entry);
        }

        foreach (var a in new[]
        {
            "serve", "--urls", $"http://127.0.0.1:{httpPort}",
            $"--Maas:DataDir={dataDir}", $"--Maas:Inference:GrpcUrl=http://127.0.0.1:{grpcPort}",
            "--Maas:Inference:Demo=false", "--Logging:LogLevel:Default=Warning", $"--Maas:Auth:AdminKey={AdminKey}",
        }.Concat(extraArgs))
        {
            info.ArgumentList.Add(a);
        }

        var process = Process.Start(info)!;
        var ready = new TaskCompletionSource();
        var failing = false;
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data == "READY")
            {
                ready.TrySetResult();
            }

            // Errors the server logs (a "fail:" or "crit:" entry and its indented lines) show up in the benchmark's output.
            failing = e.Data is { } line && (line.StartsWith("fail:", StringComparison.Ordinal) || line.StartsWith("crit:", StringComparison.Ordinal) ||
                (failing && line.StartsWith(' ')));
            if (failing)
            {
                Console.Error.WriteLine("server: " + e.Data);
            }
        };
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is { Length: > 0 })
            {
                Console.Error.WriteLine("server: " + e.Data);
            }
        };
        process.EnableRaisingEvents = true;
        process.Exited += (_, _) => ready.TrySetException(new InvalidOperationException($"the server exited with code {process.ExitCode} before it was ready"));
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            await ready.Task.WaitAsync(TimeSpan.FromSeconds(60));
        }
        catch (InvalidOperationException)
        {
            process.Dispose();
            Directory.Delete(dataDir, recursive: true);
            throw;
        }
        return new ServerProcess(process, dataDir, new Uri($"http://127.0.0.1:{httpPort}/"), new Uri($"http://127.0.0.1:{grpcPort}/"));
    }

    /// <summary>Registers a model with a serving configuration and loads it; returns nothing until it is ready.</summary>
    public async Task RegisterAsync(string name, byte[] onnx, object config)
    {
        (await Client.PostAsJsonAsync("/api/v1/models", new { name })).EnsureSuccessStatusCode();
        (await Client.PutAsJsonAsync($"/api/v1/models/{name}/config", config)).EnsureSuccessStatusCode();
        var content = new ByteArrayContent(onnx);
        content.Headers.ContentType = new("application/octet-stream");
        content.Headers.Add("X-Maas-Filename", name + ".onnx");
        (await Client.PostAsync($"/api/v1/models/{name}/versions", content)).EnsureSuccessStatusCode();
        var load = await Client.PostAsync($"/v2/repository/models/{name}/load", null);
        if (!load.IsSuccessStatusCode)
        {
            throw new InvalidOperationException($"loading {name}: {await load.Content.ReadAsStringAsync()}");
        }
    }

    /// <summary>The statistics extension's numbers for one model.</summary>
    public async Task<JsonElement> StatsAsync(string name) =>
        (await Client.GetFromJsonAsync<JsonElement>($"/v2/models/{name}/stats")).GetProperty("model_stats")[0];

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        try
        {
            _process.StandardInput.Close();
            await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(20));
        }
        catch (TimeoutException)
        {
            _process.Kill(entireProcessTree: true);
        }

        _process.Dispose();
        try
        {
            Directory.Delete(_dataDir, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    // Both held open at once, so the two ports differ.
    private static (int Http, int Grpc) FreePorts()
    {
        using var http = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        using var grpc = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        http.Start();
        grpc.Start();
        return (((System.Net.IPEndPoint)http.LocalEndpoint).Port, ((System.Net.IPEndPoint)grpc.LocalEndpoint).Port);
    }
}

/// <summary>
/// An ActivityListener that samples every span of MaaS and ASP.NET Core (all data, recorded) and counts the stopped
/// ones: the in-process part of what a tracing exporter costs, without a collector on the shared cores.
/// </summary>
internal static class SpanCounter
{
    private static long s_recorded;

    public static long Recorded => Interlocked.Read(ref s_recorded);

    public static ActivityListener Start()
    {
        var listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name is "Maas" or "Microsoft.AspNetCore",
            Sample = static (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = static activity =>
            {
                // Touch what an exporter reads: name, times, tags (enumerated without allocating, as OTLP's exporter does).
                var tags = 0;
                foreach (ref readonly var _ in activity.EnumerateTagObjects())
                {
                    tags++;
                }

                if (activity.Duration >= TimeSpan.Zero && activity.DisplayName.Length + tags >= 0)
                {
                    Interlocked.Increment(ref s_recorded);
                }
            },
        };
        ActivitySource.AddActivityListener(listener);
        return listener;
    }
}
