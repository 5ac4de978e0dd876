using System.Diagnostics;
using Maas.Server;

namespace Maas.Bench.Llm;

/// <summary>
/// MaaS under test in its own process (its own GC, server GC as the real server runs, and its own thread pool), as
/// llama-server runs in its own: neither shares a runtime with the load generator.
/// </summary>
internal sealed class MaasProcess : IAsyncDisposable
{
    private readonly Process _process;

    private MaasProcess(Process process) => _process = process;

    /// <summary>The first argument that makes this program the MaaS child instead of the benchmark.</summary>
    public const string ServeCommand = "serve";

    /// <summary>The child's entry: the real server app until the parent closes stdin.</summary>
    public static async Task ServeAsync(string[] args)
    {
        await using var app = MaasApp.Create(args);
        await app.StartAsync();
        Console.WriteLine("READY");
        await Console.In.ReadToEndAsync();
        await app.StopAsync();
    }

    /// <summary>Starts the child with these server arguments and returns once it listens; its log goes to <paramref name="log"/>.</summary>
    public static async Task<MaasProcess> StartAsync(IEnumerable<string> serverArgs, TextWriter log)
    {
        var host = Environment.ProcessPath!;
        var info = new ProcessStartInfo(host) { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true };
        if (Path.GetFileNameWithoutExtension(host) == "dotnet")
        {
            info.ArgumentList.Add(typeof(MaasProcess).Assembly.Location);
        }

        info.ArgumentList.Add(ServeCommand);
        foreach (var a in serverArgs)
        {
            info.ArgumentList.Add(a);
        }

        info.Environment["DOTNET_gcServer"] = "1"; // as Maas.Server (a web app) runs by default
        var process = Process.Start(info)!;
        var ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data == "READY")
            {
                ready.TrySetResult();
            }
            else if (e.Data is not null)
            {
                log.WriteLine(e.Data);
            }
        };
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is { Length: > 0 })
            {
                Console.Error.WriteLine("maas: " + e.Data);
            }
        };
        process.EnableRaisingEvents = true;
        process.Exited += (_, _) => ready.TrySetException(new InvalidOperationException($"MaaS exited with code {process.ExitCode} before it was ready"));
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        await ready.Task.WaitAsync(TimeSpan.FromMinutes(2));
        return new MaasProcess(process);
    }

    /// <summary>CPU time the child has used (user and system).</summary>
    public TimeSpan CpuTime()
    {
        _process.Refresh();
        return _process.TotalProcessorTime;
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.StandardInput.Close(); // the child stops gracefully
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            try
            {
                await _process.WaitForExitAsync(timeout.Token);
            }
            catch (OperationCanceledException)
            {
                _process.Kill(entireProcessTree: true);
            }
        }

        _process.Dispose();
    }
}
