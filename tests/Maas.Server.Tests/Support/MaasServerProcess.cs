using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using Maas.Testing;

namespace Maas.Server.Tests.Support;

/// <summary>
/// The MaaS server as a separate OS process (<c>dotnet Maas.Server.dll --urls http://127.0.0.1:0 ...</c>), for what
/// an in-process server cannot show: being killed (SIGKILL) and its own resident memory.
/// </summary>
public sealed partial class MaasServerProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly List<string> _output = [];
    private readonly TaskCompletionSource<Uri> _listening = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private MaasServerProcess(Process process, string dataDir)
    {
        _process = process;
        DataDir = dataDir;
    }

    /// <summary>The server's data folder.</summary>
    public string DataDir { get; }

    /// <summary>The process id.</summary>
    public int Pid => _process.Id;

    /// <summary>Where the server listens.</summary>
    public Uri BaseAddress { get; private set; } = null!;

    /// <summary>A client for <see cref="BaseAddress"/> that sends the test admin key (no timeout).</summary>
    public HttpClient Client { get; private set; } = null!;

    /// <summary>True while the process runs.</summary>
    public bool IsRunning => !_process.HasExited;

    /// <summary>The last lines the server printed (for failure messages).</summary>
    public string RecentOutput
    {
        get
        {
            lock (_output)
            {
                return string.Join('\n', _output.TakeLast(60));
            }
        }
    }

    /// <summary>The built server assembly: next to the tests (the project reference copies it) or in src/Maas.Server/bin.</summary>
    public static string ServerDll()
    {
        var local = Path.Combine(AppContext.BaseDirectory, "Maas.Server.dll");
        if (File.Exists(local) && File.Exists(Path.Combine(AppContext.BaseDirectory, "Maas.Server.runtimeconfig.json")))
        {
            return local;
        }

        var configuration = AppContext.BaseDirectory.Contains($"{Path.DirectorySeparatorChar}Release{Path.DirectorySeparatorChar}", StringComparison.Ordinal) ? "Release" : "Debug";
        var built = Path.Combine(SharedModels.RepoRoot, "src", "Maas.Server", "bin", configuration, "net10.0", "Maas.Server.dll");
        return File.Exists(built) ? built : throw new FileNotFoundException("Maas.Server.dll not found; build src/Maas.Server first", built);
    }

    /// <summary>Starts the server on a free loopback port with <paramref name="dataDir"/> (and extra <paramref name="environment"/>) and waits until it listens.</summary>
    public static async Task<MaasServerProcess> StartAsync(
        string dataDir, IReadOnlyDictionary<string, string?>? settings = null, TimeSpan? timeout = null, IReadOnlyDictionary<string, string>? environment = null)
    {
        var info = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add(ServerDll());
        info.ArgumentList.Add("--urls");
        info.ArgumentList.Add("http://127.0.0.1:0");
        var all = new Dictionary<string, string?>(MaasTestServer.DefaultSettings)
        {
            // The listening line is logged at Information by Microsoft.Hosting.Lifetime.
            ["Logging:LogLevel:Microsoft.Hosting.Lifetime"] = "Information",
            ["Logging:Console:FormatterName"] = "simple",
        };
        foreach (var (key, value) in settings ?? new Dictionary<string, string?>())
        {
            all[key] = value;
        }

        foreach (var (key, value) in all)
        {
            info.ArgumentList.Add($"--{key}={value}");
        }

        info.Environment["MAAS_DATA_DIR"] = dataDir;
        info.Environment["DOTNET_NOLOGO"] = "1";
        foreach (var (key, value) in environment ?? new Dictionary<string, string>())
        {
            info.Environment[key] = value;
        }

        var process = Process.Start(info) ?? throw new InvalidOperationException("dotnet did not start");
        var server = new MaasServerProcess(process, dataDir);
        process.OutputDataReceived += (_, e) => server.OnLine(e.Data);
        process.ErrorDataReceived += (_, e) => server.OnLine(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            var exited = process.WaitForExitAsync();
            var first = await Task.WhenAny(server._listening.Task, exited, Task.Delay(timeout ?? TimeSpan.FromSeconds(60)));
            if (first != server._listening.Task)
            {
                throw new InvalidOperationException(
                    (process.HasExited ? $"the server exited with code {process.ExitCode}" : "the server did not start listening in time") + ":\n" + server.RecentOutput);
            }

            server.BaseAddress = await server._listening.Task;
            server.Client = MaasTestServer.CreateClient(server.BaseAddress);
            return server;
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }
    }

    [GeneratedRegex(@"Now listening on: (http://[^\s""]+)")]
    private static partial Regex ListeningLine();

    private void OnLine(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_output)
        {
            _output.Add(line);
            if (_output.Count > 500)
            {
                _output.RemoveRange(0, 100);
            }
        }

        if (ListeningLine().Match(line) is { Success: true } match)
        {
            _listening.TrySetResult(new Uri(match.Groups[1].Value.TrimEnd('/') + "/"));
        }
    }

    /// <summary>A value from /proc/&lt;pid&gt;/status in bytes (VmRSS now, VmHWM the peak), or null when the process is gone.</summary>
    public long? StatusBytes(string field)
    {
        try
        {
            foreach (var line in File.ReadLines($"/proc/{Pid}/status"))
            {
                if (line.StartsWith(field + ":", StringComparison.Ordinal))
                {
                    var kb = line[(field.Length + 1)..].Trim().Split(' ')[0];
                    return long.Parse(kb, CultureInfo.InvariantCulture) * 1024;
                }
            }
        }
        catch (IOException)
        {
        }

        return null;
    }

    /// <summary>Kills the process with SIGKILL (no shutdown code runs) and waits for it to be gone.</summary>
    public async Task KillAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: false);
        }

        await _process.WaitForExitAsync();
    }

    /// <summary>Asks the process to stop (SIGTERM, a graceful shutdown) and waits up to 30 s.</summary>
    public async Task StopAsync()
    {
        if (_process.HasExited)
        {
            return;
        }

        using (var kill = Process.Start("kill", ["-TERM", Pid.ToString(CultureInfo.InvariantCulture)]))
        {
            await kill.WaitForExitAsync();
        }

        using var wait = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        try
        {
            await _process.WaitForExitAsync(wait.Token);
        }
        catch (OperationCanceledException)
        {
            await KillAsync();
        }
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        Client?.Dispose();
        await KillAsync();
        _process.Dispose();
    }
}
