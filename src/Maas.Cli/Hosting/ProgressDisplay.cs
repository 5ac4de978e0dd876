using System.CommandLine;
using System.Globalization;
using Spectre.Console;

namespace Maas.Cli.Hosting;

/// <summary>
/// Progress of a long operation: a live bar at a terminal, plain "NN%" lines on stdout when the output is redirected
/// (every 10%, so logs stay short), nothing with <c>--json</c> (stdout is the JSON alone).
/// </summary>
public static class ProgressDisplay
{
    /// <summary>Runs <paramref name="work"/>, which reports values up to <paramref name="total"/> (bytes, or percent with 100).</summary>
    public static async Task<T> RunAsync<T>(ParseResult parse, string description, long total, bool bytes, Func<IProgress<long>, Task<T>> work)
    {
        if (parse.WantsJson())
        {
            return await work(new Sink(_ => { }));
        }

        if (!CliHost.Interactive)
        {
            var lastStep = -1;
            var lockObject = new object();
            void Line(long done)
            {
                var percent = total <= 0 ? 0 : (int)Math.Min(100, done * 100 / total);
                var amount = bytes ? $" ({CliHost.Bytes(done)} of {CliHost.Bytes(total)})" : "";
                // Written under the lock: reports from concurrent workers (bench) must not print out of order.
                lock (lockObject)
                {
                    if (percent / 10 <= lastStep)
                    {
                        return;
                    }

                    lastStep = percent / 10;
                    Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{description}: {percent}%{amount}"));
                }
            }

            var result = await work(new Sink(Line));
            Line(total);
            return result;
        }

        T? value = default;
        await AnsiConsole.Progress()
            .AutoClear(false)
            .Columns(
                new TaskDescriptionColumn(),
                new ProgressBarColumn(),
                new PercentageColumn(),
                bytes ? new DownloadedColumn() : new ElapsedTimeColumn(),
                bytes ? new TransferSpeedColumn() : new SpinnerColumn())
            .StartAsync(async context =>
            {
                var task = context.AddTask(Markup.Escape(description), maxValue: Math.Max(1, total));
                value = await work(new Sink(done => task.Value = Math.Min(done, task.MaxValue)));
                task.Value = task.MaxValue;
            });
        return value!;
    }

    /// <summary>Reports synchronously on the reporting thread (no synchronization context hops).</summary>
    private sealed class Sink(Action<long> report) : IProgress<long>
    {
        public void Report(long value) => report(value);
    }
}
