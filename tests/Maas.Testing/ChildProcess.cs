using System.Diagnostics;

namespace Maas.Testing;

/// <summary>What a child process printed and how it ended.</summary>
public sealed record ChildProcessResult(int ExitCode, string Output, string Error);

/// <summary>Runs tools the tests drive (node, npm) to their end, within a time limit.</summary>
public static class ChildProcess
{
    /// <summary>Runs <paramref name="info"/> with its output captured; past <paramref name="timeout"/> the process tree is killed and a <see cref="TimeoutException"/> names what
    /// it printed on stderr.</summary>
    public static async Task<ChildProcessResult> RunAsync(ProcessStartInfo info, TimeSpan timeout)
    {
        ArgumentNullException.ThrowIfNull(info);
        info.RedirectStandardOutput = true;
        info.RedirectStandardError = true;
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{info.FileName} did not finish in {timeout}: {await stderr}");
        }

        return new ChildProcessResult(process.ExitCode, await stdout, await stderr);
    }
}
