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
    public static Task<T> RunAsync<T>(ParseResult parse, string description, long total, bool bytes, Func<IProgress<long>, Task<T>> work) =>
        RunAsync(parse, description, total, bytes, progress => work(new Sink<long>(done => progress.Report(new ProgressReport(done, null)))), _ => total);

    /// <summary>
    /// Runs <paramref name="work"/>, whose reports may carry a label for the bar (a job's stage), and ends the display at
    /// <paramref name="endAt"/> of its result rather than at <paramref name="total"/>: a job that failed on its way stays
    /// where it stopped.
    /// </summary>
    public static async Task<T> RunAsync<T>(ParseResult parse, string description, long total, bool bytes, Func<IProgress<ProgressReport>, Task<T>> work, Func<T, long> endAt)
    {
        if (parse.WantsJson())
        {
            return await work(new Sink<ProgressReport>(_ => { }));
        }

        if (!CliHost.Interactive)
        {
            var lastStep = -1;
            var lastPercent = -1;
            var lockObject = new object();
            void Line(long done, bool last)
            {
                var percent = total <= 0 ? 0 : (int)Math.Min(100, done * 100 / total);
                var amount = bytes ? $" ({CliHost.Bytes(done)} of {CliHost.Bytes(total)})" : "";
                // Written under the lock: reports from concurrent workers (bench) must not print out of order.
                lock (lockObject)
                {
                    // A line per 10% step, and the last line where the work ended (95% for a job that failed there).
                    if (percent / 10 <= lastStep && !(last && percent != lastPercent))
                    {
                        return;
                    }

                    lastStep = Math.Max(lastStep, percent / 10);
                    lastPercent = percent;
                    Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{description}: {percent}%{amount}"));
                }
            }

            var result = await work(new Sink<ProgressReport>(report => Line(report.Done, last: false)));
            Line(endAt(result), last: true);
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
                value = await work(new Sink<ProgressReport>(report =>
                {
                    task.Value = Math.Min(report.Done, task.MaxValue);
                    task.Description = Markup.Escape(report.Label is null ? description : $"{description} {report.Label}");
                }));
                task.Value = Math.Min(endAt(value), task.MaxValue);
            });
        return value!;
    }

    /// <summary>Reports synchronously on the reporting thread (no synchronization context hops).</summary>
    private sealed class Sink<TReport>(Action<TReport> report) : IProgress<TReport>
    {
        public void Report(TReport value) => report(value);
    }
}
