using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Maas.Testing;

namespace Maas.Cli.Tests.Support;

/// <summary>
/// <c>maas serve</c> run as a user runs it (<c>dotnet maas.dll serve --server-dll ...</c>) on a free loopback port of
/// its own, with what the tests need around it: the server process it started (read from /proc, so Linux only), signals
/// sent with kill(1), and whether a process or the port is gone.
/// </summary>
public sealed class ServeRun : IAsyncDisposable
{
    private readonly StringBuilder _output = new();
    private int _serverPid;

    private ServeRun(Process cli, int port)
    {
        Cli = cli;
        Port = port;
    }

    /// <summary>The CLI process.</summary>
    public Process Cli { get; }

    /// <summary>The port the server listens on.</summary>
    public int Port { get; }

    /// <summary>The server's base address.</summary>
    public Uri Url => new($"http://127.0.0.1:{Port}/");

    /// <summary>Everything the CLI and the server printed so far (stdout and stderr, a line each).</summary>
    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    /// <summary>Starts <c>maas serve</c> with its data in <paramref name="dataDir"/>, <paramref name="serveOptions"/> before <c>--</c> and <paramref name="serverOptions"/>
    /// after.</summary>
    public static ServeRun Start(string dataDir, string[] serveOptions, params string[] serverOptions) =>
        Start(dataDir, ["--server-dll", Path.Combine(AppContext.BaseDirectory, "Maas.Server.dll"), .. serveOptions], null, serverOptions);

    /// <summary>
    /// Starts <c>maas serve</c> without a server assembly, from the repository's root folder, as a user of a clone runs
    /// it: the CLI falls back to <c>dotnet run --project src/Maas.Server</c>, so the server is its grandchild.
    /// </summary>
    public static ServeRun StartFromRepository(string dataDir, params string[] serverOptions) =>
        Start(dataDir, [], RepositoryRoot(), serverOptions);

    private static ServeRun Start(string dataDir, string[] serveOptions, string? workingDirectory, string[] serverOptions)
    {
        var port = FreePort();
        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        info.ArgumentList.Add(CliRunner.CliDll());
        info.ArgumentList.Add("serve");
        if (workingDirectory is not null)
        {
            info.WorkingDirectory = workingDirectory;
            info.Environment.Remove("MAAS_SERVER_DLL");

            // dotnet run's build must leave no build server or node behind holding this test's output pipes.
            info.Environment["MSBUILDDISABLENODEREUSE"] = "1";
            info.Environment["DOTNET_CLI_USE_MSBUILD_SERVER"] = "0";
            info.Environment["UseSharedCompilation"] = "false";
        }
        foreach (var option in serveOptions)
        {
            info.ArgumentList.Add(option);
        }

        info.ArgumentList.Add("--");
        foreach (var option in new[]
        {
            "--urls", $"http://127.0.0.1:{port}", $"--Maas:DataDir={dataDir}", "--Maas:Inference:Demo=false", "--Maas:Llm:Demo=false",
            "--Maas:Inference:GrpcUrl=", "--Logging:LogLevel:Microsoft.Hosting.Lifetime=Information",
        }.Concat(serverOptions))
        {
            info.ArgumentList.Add(option);
        }

        info.Environment["DOTNET_NOLOGO"] = "1";
        var run = new ServeRun(Process.Start(info)!, port);
        run.Cli.OutputDataReceived += (_, e) => run.Append(e.Data);
        run.Cli.ErrorDataReceived += (_, e) => run.Append(e.Data);
        run.Cli.BeginOutputReadLine();
        run.Cli.BeginErrorReadLine();
        return run;
    }

    /// <summary>
    /// Waits until the server answers <c>/health/live</c> and returns its process id: the CLI's descendant running
    /// Maas.Server.dll, or Maas.Server's own executable (started by <c>dotnet run</c>).
    /// </summary>
    public async Task<int> WaitForServerAsync()
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        await Conditions.WaitUntilAsync(
            async () =>
            {
                Assert.False(Cli.HasExited, $"maas serve ended before its server answered:\n{Output}");
                try
                {
                    using var response = await http.GetAsync(new Uri(Url, "health/live"));
                    return response.StatusCode == HttpStatusCode.OK;
                }
                catch (HttpRequestException)
                {
                    return false;
                }
                catch (TaskCanceledException)
                {
                    return false;
                }
            },
            "the server started by maas serve answers /health/live",
            TimeSpan.FromSeconds(120));
        var servers = DescendantsOf(Cli.Id)
            .Where(pid => CommandLine(pid).Contains("Maas.Server.dll", StringComparison.Ordinal) || Name(pid) == "Maas.Server")
            .ToArray();
        _serverPid = Assert.Single(servers);
        return _serverPid;
    }

    /// <summary>Sends <paramref name="signal"/> (TERM, INT, KILL) to <paramref name="pid"/> with kill(1).</summary>
    public static async Task SignalAsync(string signal, int pid)
    {
        using var kill = Process.Start(new ProcessStartInfo("kill") { UseShellExecute = false, ArgumentList = { "-s", signal, pid.ToString(CultureInfo.InvariantCulture) } })!;
        await kill.WaitForExitAsync();
        Assert.Equal(0, kill.ExitCode);
    }

    /// <summary>True when process <paramref name="pid"/> no longer runs (gone, or a zombie no one has reaped yet).</summary>
    public static bool IsGone(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            return stat[(stat.LastIndexOf(')') + 2)..].StartsWith('Z');
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException or IOException)
        {
            return true;
        }
    }

    /// <summary>True when something accepts connections on loopback port <paramref name="port"/>.</summary>
    public static bool IsListening(int port)
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            socket.Connect(IPAddress.Loopback, port);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    /// <summary>Waits until the CLI has exited and returns its exit code.</summary>
    public async Task<int> WaitForExitAsync()
    {
        await Conditions.WaitUntilAsync(() => Cli.HasExited, "maas serve exits", TimeSpan.FromSeconds(120));
        return Cli.ExitCode;
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        // Whatever the test left running goes: the CLI with its tree, and a server that outlived it.
        if (!Cli.HasExited)
        {
            Cli.Kill(entireProcessTree: true);
        }

        if (_serverPid != 0 && !IsGone(_serverPid))
        {
            await SignalAsync("KILL", _serverPid);
        }

        Cli.Dispose();
    }

    private void Append(string? line)
    {
        if (line is not null)
        {
            lock (_output)
            {
                _output.Append(line).Append('\n');
            }
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static IEnumerable<int> DescendantsOf(int ancestor)
    {
        foreach (var child in ChildrenOf(ancestor).ToArray())
        {
            yield return child;
            foreach (var descendant in DescendantsOf(child))
            {
                yield return descendant;
            }
        }
    }

    private static string RepositoryRoot()
    {
        for (var folder = new DirectoryInfo(AppContext.BaseDirectory); folder is not null; folder = folder.Parent)
        {
            if (File.Exists(Path.Combine(folder.FullName, "src", "Maas.Server", "Maas.Server.csproj")))
            {
                return folder.FullName;
            }
        }

        throw new InvalidOperationException($"no MaaS repository above {AppContext.BaseDirectory}");
    }

    private static string Name(int pid)
    {
        try
        {
            return File.ReadAllText($"/proc/{pid}/comm").TrimEnd('\n');
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException or IOException)
        {
            return "";
        }
    }

    private static IEnumerable<int> ChildrenOf(int parent)
    {
        foreach (var folder in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(folder), NumberStyles.None, CultureInfo.InvariantCulture, out var pid))
            {
                continue;
            }

            string stat;
            try
            {
                stat = File.ReadAllText(Path.Combine(folder, "stat"));
            }
            catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException or IOException)
            {
                continue; // ended meanwhile
            }

            // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so read after the last ')'.
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            if (int.Parse(fields[1], CultureInfo.InvariantCulture) == parent)
            {
                yield return pid;
            }
        }
    }

    private static string CommandLine(int pid)
    {
        try
        {
            return File.ReadAllText($"/proc/{pid}/cmdline").Replace('\0', ' ');
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException or IOException)
        {
            return "";
        }
    }
}
