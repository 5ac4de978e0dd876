using System.Diagnostics;

namespace Maas.Bench;

/// <summary>One measurement: how many calls completed in how long, and their latency percentiles.</summary>
internal sealed record Measurement(string Mode, int Clients, long Calls, long Errors, double Seconds, double PerSecond, double P50Ms, double P99Ms)
{
    /// <summary>CPU time the server process used per completed call during the measurement (0 for in-process modes).</summary>
    public double ServerCpuUsPerCall { get; init; }
}

/// <summary>Runs N closed-loop clients (each sends its next call when the previous one answered) for a fixed time.</summary>
internal static class LoadGenerator
{
    /// <summary>
    /// Calls <paramref name="call"/> from <paramref name="clients"/> loops: a short warm-up, then
    /// <paramref name="seconds"/> of measurement. <paramref name="inferencesPerCall"/> scales calls to inferences.
    /// </summary>
    public static async Task<Measurement> RunAsync(string mode, int clients, double seconds, Func<int, CancellationToken, Task<bool>> call, int inferencesPerCall = 1,
        Func<TimeSpan>? serverCpu = null)
    {
        var warmUntil = Stopwatch.GetTimestamp() + (long)(Math.Min(1.0, seconds / 4) * Stopwatch.Frequency);
        var stopAt = warmUntil + (long)(seconds * Stopwatch.Frequency);
        var latencies = new List<long>[clients];
        var errors = new long[clients];
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(seconds + 60));
        var tasks = Enumerable.Range(0, clients).Select(c => Task.Run(async () =>
        {
            var mine = latencies[c] = new List<long>(4096);
            while (true)
            {
                var start = Stopwatch.GetTimestamp();
                if (start >= stopAt)
                {
                    return;
                }

                var ok = await call(c, cts.Token);
                var end = Stopwatch.GetTimestamp();
                if (start >= warmUntil)
                {
                    if (ok)
                    {
                        mine.Add(end - start);
                    }
                    else
                    {
                        errors[c]++;
                    }
                }
            }
        })).ToArray();

        // The server's CPU time over the measured window (noise from other processes does not inflate it much).
        var cpu = serverCpu is null ? Task.FromResult(TimeSpan.Zero) : Task.Run(async () =>
        {
            await Task.Delay(Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), warmUntil));
            var before = serverCpu();
            await Task.Delay(Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), stopAt));
            return serverCpu() - before;
        });
        await Task.WhenAll(tasks);
        var all = latencies.SelectMany(l => l).Order().ToArray();
        var ms = 1000.0 / Stopwatch.Frequency;
        return new Measurement(
            mode,
            clients,
            all.Length,
            errors.Sum(),
            seconds,
            all.Length * inferencesPerCall / seconds,
            all.Length == 0 ? 0 : all[all.Length / 2] * ms,
            all.Length == 0 ? 0 : all[Math.Min(all.Length - 1, (int)(all.Length * 0.99))] * ms)
        {
            ServerCpuUsPerCall = all.Length == 0 ? 0 : (await cpu).TotalMicroseconds / all.Length,
        };
    }
}
