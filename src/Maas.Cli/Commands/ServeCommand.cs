using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Threading.Channels;
using Maas.Cli.Hosting;

namespace Maas.Cli.Commands;

/// <summary>
/// <c>maas serve [-- server options]</c>: runs the MaaS server in the foreground. It starts a built
/// <c>Maas.Server.dll</c> (<c>--server-dll</c> or <c>MAAS_SERVER_DLL</c>), else <c>dotnet run --project src/Maas.Server</c>
/// of the repository that holds the current folder or this tool. SIGINT (Ctrl+C) and SIGTERM are passed on to the
/// server, which stops gracefully; the command waits for it (at most <c>--stop-timeout</c>, then kills it) and exits
/// with its exit code. It handles these signals itself: Program turns System.CommandLine's handling off for it, as
/// that would end the command two seconds after a signal, the server still running.
/// </summary>
public static class ServeCommand
{
    /// <summary>The default of <c>--stop-timeout</c>: the server's own default shutdown (2 s drain, 30 s for requests) and a margin.</summary>
    public const int DefaultStopTimeoutSeconds = 60;

    /// <summary>The largest <c>--stop-timeout</c>: the server's longest shutdown (300 s drain, 3600 s for requests).</summary>
    public const int MaxStopTimeoutSeconds = 3900;

    /// <summary>The <c>serve</c> command.</summary>
    public static Command Create()
    {
        var dll = new Option<FileInfo?>("--server-dll") { Description = "A built Maas.Server.dll to run (default: MAAS_SERVER_DLL, else the repository's src/Maas.Server)" };
        var stopTimeout = new Option<int>("--stop-timeout")
        {
            Description = $"Seconds the server gets to stop after Ctrl+C or SIGTERM before it is killed (1 to {MaxStopTimeoutSeconds}, default {DefaultStopTimeoutSeconds})",
            DefaultValueFactory = _ => DefaultStopTimeoutSeconds,
        }.Between(1, MaxStopTimeoutSeconds);
        var rest = new Argument<string[]>("server-options")
        {
            Description = "Options for the server after --, e.g. -- --urls http://127.0.0.1:9000",
            Arity = ArgumentArity.ZeroOrMore
        };
        var command = new Command("serve", "Run the MaaS server in the foreground (Ctrl+C or SIGTERM stops it gracefully)") { dll, stopTimeout, rest };
        command.SetLocalAction(async (parse, _) =>
        {
            var info = new ProcessStartInfo("dotnet") { UseShellExecute = false };
            var serverDll = parse.GetValue(dll)?.FullName ?? Environment.GetEnvironmentVariable("MAAS_SERVER_DLL");
            if (!string.IsNullOrEmpty(serverDll))
            {
                if (!File.Exists(serverDll))
                {
                    throw new CliException("server_not_found", $"no server assembly at {serverDll}");
                }

                info.ArgumentList.Add(serverDll);
            }
            else
            {
                var project = FindProject(Directory.GetCurrentDirectory()) ?? FindProject(AppContext.BaseDirectory)
                    ?? throw new CliException("server_not_found",
                        "cannot find the server: run from the MaaS repository, or pass --server-dll (or MAAS_SERVER_DLL) with a built Maas.Server.dll");
                info.ArgumentList.Add("run");
                info.ArgumentList.Add("--project");
                info.ArgumentList.Add(project);
                info.ArgumentList.Add("--");
            }

            foreach (var argument in parse.GetValue(rest) ?? [])
            {
                info.ArgumentList.Add(argument);
            }

            return await RunAsync(info, TimeSpan.FromSeconds(parse.GetValue(stopTimeout)));
        });
        return command;
    }

    // Runs the server until it exits; each SIGINT or SIGTERM the command gets is passed on to it, and the first starts
    // the bounded wait for its stop. The server's exit code is the command's (137 when it had to be killed).
    private static async Task<int> RunAsync(ProcessStartInfo info, TimeSpan stopTimeout)
    {
        var signals = Channel.CreateUnbounded<PosixSignal>();
        void OnSignal(PosixSignalContext context)
        {
            // Not the default action (ending this process at once, which would leave the server running on its own).
            context.Cancel = true;
            signals.Writer.TryWrite(context.Signal);
        }

        // Registered before the server starts: a signal that comes meanwhile waits in the channel and is passed on.
        using var interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal);
        using var terminate = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal);
        using var server = await StartAsync(info);
        var exited = server.WaitForExitAsync();
        var firstSignal = signals.Reader.ReadAsync().AsTask();
        if (await Task.WhenAny(exited, firstSignal) == firstSignal)
        {
            var signal = await firstSignal;
            Forward(server, signal);
            using var stopForwarding = new CancellationTokenSource();
            var later = ForwardLaterAsync(server, signals.Reader, stopForwarding.Token);
            if (await Task.WhenAny(exited, Task.Delay(stopTimeout)) != exited)
            {
                server.Kill(entireProcessTree: true);
                await exited;
                CliHost.Fail(
                    "server_killed",
                    string.Create(CultureInfo.InvariantCulture, $"the server did not stop within {stopTimeout.TotalSeconds:0} s of {Name(signal)} (--stop-timeout); it was killed"),
                    server.ExitCode);
            }

            await stopForwarding.CancelAsync();
            await later;
        }

        await exited;
        return server.ExitCode;
    }

    // A second Ctrl+C while the server stops is passed on too (the server stops once; the bounded wait goes on).
    private static async Task ForwardLaterAsync(Process server, ChannelReader<PosixSignal> signals, CancellationToken cancellationToken)
    {
        try
        {
            await foreach (var signal in signals.ReadAllAsync(cancellationToken))
            {
                Forward(server, signal);
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    // Starts the server from a thread of its own that waits for it. On Linux the server is started through util-linux's
    // setpriv with a parent-death signal: when this command is killed outright (SIGKILL, which it cannot catch) the
    // kernel sends the server SIGTERM, so it stops gracefully rather than running on as an orphan. That signal comes when
    // the thread that started the server ends, hence the thread, which lives until the server exits.
    private static Task<Process> StartAsync(ProcessStartInfo info)
    {
        if (OperatingSystem.IsLinux() && ParentDeathWrapper() is { } setpriv)
        {
            info.ArgumentList.Insert(0, info.FileName);
            info.ArgumentList.Insert(0, "--");
            info.ArgumentList.Insert(0, "TERM");
            info.ArgumentList.Insert(0, "--pdeathsig");
            info.FileName = setpriv;
        }

        var started = new TaskCompletionSource<Process>(TaskCreationOptions.RunContinuationsAsynchronously);
        var thread = new Thread(() =>
        {
            Process process;
            try
            {
                process = Process.Start(info) ?? throw new CliException("server_not_started", $"{info.FileName} did not start");
            }
            catch (Exception e)
            {
                started.SetException(e is CliException ? e : new CliException("server_not_started", $"{info.FileName} did not start: {e.Message}"));
                return;
            }

            started.SetResult(process);
            process.WaitForExit();
        })
        {
            IsBackground = true,
            Name = "maas serve: server parent",
        };
        thread.Start();
        return started.Task;
    }

    // util-linux's setpriv when it is on the PATH and knows --pdeathsig (2.33 and later), else null (no wrapper).
    private static string? ParentDeathWrapper()
    {
        foreach (var folder in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
        {
            var path = Path.Combine(folder, "setpriv");
            if (!File.Exists(path))
            {
                continue;
            }

            try
            {
                using var probe = Process.Start(new ProcessStartInfo(path, "--help") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true });
                if (probe is null)
                {
                    return null;
                }

                var help = probe.StandardOutput.ReadToEndAsync();
                _ = probe.StandardError.ReadToEndAsync();
                probe.WaitForExit();
                return help.Result.Contains("--pdeathsig", StringComparison.Ordinal) ? path : null;
            }
            catch (Exception e) when (e is System.ComponentModel.Win32Exception or IOException)
            {
                return null;
            }
        }

        return null;
    }

    // Sends the server the signal this command got, with kill(1): .NET sends no signal but SIGKILL to another process.
    // Windows has no such signals: there Ctrl+C reaches the server through the console it shares.
    private static void Forward(Process server, PosixSignal signal)
    {
        if (OperatingSystem.IsWindows() || server.HasExited)
        {
            return;
        }

        try
        {
            using var kill = Process.Start(
                new ProcessStartInfo("kill") { UseShellExecute = false, ArgumentList = { "-s", Name(signal)[3..], server.Id.ToString(CultureInfo.InvariantCulture) } });
            kill?.WaitForExit();
        }
        catch (Exception e) when (e is System.ComponentModel.Win32Exception or InvalidOperationException)
        {
            // No kill(1): the bounded wait still ends with the server killed.
            Console.Error.WriteLine($"maas serve: could not pass {Name(signal)} on to the server ({e.Message})");
        }
    }

    private static string Name(PosixSignal signal) => signal switch
    {
        PosixSignal.SIGINT => "SIGINT",
        PosixSignal.SIGTERM => "SIGTERM",
        _ => signal.ToString(),
    };

    private static string? FindProject(string start)
    {
        for (var folder = new DirectoryInfo(start); folder is not null; folder = folder.Parent)
        {
            var project = Path.Combine(folder.FullName, "src", "Maas.Server", "Maas.Server.csproj");
            if (File.Exists(project))
            {
                return project;
            }
        }

        return null;
    }
}
