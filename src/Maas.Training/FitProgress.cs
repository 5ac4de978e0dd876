using System.Runtime.ExceptionServices;
using Maas.Core.Jobs.Queue;
using Microsoft.ML;
using Microsoft.ML.Runtime;

namespace Maas.Training;

/// <summary>
/// A table fit's progress while it runs, from what ML.NET itself counts, mapped into the fit's share of the job's
/// percent: the job reports percent and the count (stored a few times a second by <see cref="JobRun.ReportAsync"/>) and
/// a "log" event ("tree 40 of 100 built", "iteration 40 of 100 done") at each tenth of the count.
/// </summary>
/// <remarks>
/// FastTree writes "numTotalTrees left" on its trace channel before each tree it builds (each class's model in turn for
/// one-versus-all multiclass), read from <see cref="MLContext.Log"/> on the fit's thread. LightGBM, SDCA and L-BFGS
/// write nothing per iteration to that log (LightGBM's native log goes to stdout, and is silenced); they count their
/// boosting iterations, passes and iterations on ML.NET's progress channels instead, which are read here every
/// <see cref="PollInterval"/> (<see cref="MlNetProgress"/>): each read is the trainer's own count, nothing is
/// estimated from time. A count that stops short (SDCA or L-BFGS converged, LightGBM found no split) jumps to the end
/// of the share when the fit returns.
/// </remarks>
internal sealed class FitProgress : IDisposable
{
    /// <summary>What FastTree's trace says once before each tree it builds.</summary>
    internal const string TreeStarted = "numTotalTrees left";

    /// <summary>"log" events over a whole fit (at most one at each tenth of its count).</summary>
    internal const int LogEvents = 10;

    /// <summary>How often the progress channels of LightGBM, SDCA and L-BFGS are read.</summary>
    internal static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(50);

    private readonly JobRun _run;
    private readonly MLContext _context;
    private readonly double _from;
    private readonly double _to;
    private readonly Counting _counting;
    private readonly Lock _gate = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly MlNetProgress? _channels;
    private readonly Thread? _polling;
    private int _total;
    private int _counted;
    private int _logged;
    private int _disposed;
    private ExceptionDispatchInfo? _failed;
    private string? _unread;

    private FitProgress(JobRun run, MLContext context, int total, double from, double to, Counting counting, MlNetProgress? channels)
    {
        _run = run;
        _context = context;
        _total = total;
        _from = from;
        _to = to;
        _counting = counting;
        _channels = channels;
        if (channels is null)
        {
            context.Log += OnLog;
        }
        else
        {
            // What the context's channels said before the fit is not the fit's.
            channels.Read();
            _polling = new Thread(() => Poll(channels)) { IsBackground = true, Name = "fit progress" };
            _polling.Start();
        }
    }

    /// <summary>
    /// Watches the fit <paramref name="trainer"/> is about to run and maps it into <paramref name="from"/>..<paramref name="to"/>
    /// percent; null when its trainer gives no count during a fit (or this ML.NET has no channels to read).
    /// </summary>
    public static FitProgress? Watch(JobRun run, TabularTrainer trainer, double from, double to)
    {
        if (trainer.TreesToFit is { Total: > 0 } trees)
        {
            var unit = trees.Classes > 1 ? $" ({trees.Total / trees.Classes} trees for each of {trees.Classes} classes)" : "";
            return new FitProgress(run, trainer.Context, trees.Total, from, to, new Counting("tree", "built", "built", unit, null), null);
        }

        return trainer.IterationsToFit is { } iterations && MlNetProgress.Of(trainer.Context) is { } channels
            ? new FitProgress(run, trainer.Context, iterations.Total ?? 0, from, to, new Counting("iteration", "done", "ran", "", iterations.Computation), channels)
            : null;
    }

    /// <summary>What the fit counted so far (FastTree: the trees it started).</summary>
    public int Counted => Volatile.Read(ref _counted);

    /// <summary>
    /// The fit of <paramref name="model"/> ended: the job is at the end of the fit's share, and a "log" event says how far
    /// the fit went.
    /// </summary>
    public async Task FinishAsync(ITransformer model, string task)
    {
        Dispose();
        _failed?.Throw();
        if (_channels is not null && _unread is null)
        {
            // The checkpoints the trainer wrote at its end (the pass or iteration it stopped at).
            Take(_channels.Read(), report: false);
        }

        // LightGBM checkpoints only every 50th iteration, and a stopped computation is no longer asked: its model's trees
        // say how many iterations it ran.
        var ran = _channels is null ? 0 : BoostedTreeCurve.From(model, task).Curve?.Iterations ?? 0;
        if (_unread is not null)
        {
            await _run.EventAsync("log", new { message = $"the fit's progress could not be read from ML.NET after iteration {Counted}: {_unread}" });
        }

        var total = Volatile.Read(ref _total);
        var done = Math.Min(Math.Max(Counted, ran), total);
        await _run.ReportAsync(new JobProgress { Percent = _to, Stage = "training", Iteration = done });
        if (total > 0)
        {
            var c = _counting;
            await _run.EventAsync("log", new { message = $"the fit {c.FitVerb} {done} of {total} {c.Noun}s{c.Unit}", iteration = done, iterations = total, percent = _to });
        }
    }

    /// <summary>Stops reading ML.NET's log or channels (waits for a read under way).</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }

        _context.Log -= OnLog;
        _stop.Cancel();
        _polling?.Join();
        _stop.Dispose();
    }

    // On the fit's thread, before each tree: the trees before this one are done. The report waits on this thread (a job's
    // work thread), so every tenth is written before the fit goes on and the percents stored are in order.
    private void OnLog(object? sender, LoggingEventArgs e)
    {
        if (e.Kind != ChannelMessageKind.Trace || !e.Message.Contains(TreeStarted, StringComparison.Ordinal))
        {
            return;
        }

        lock (_gate)
        {
            var tree = ++_counted;
            if (tree > _total || _failed is not null)
            {
                return;
            }

            Report(tree - 1, tree);
        }
    }

    // On a thread of its own (a busy thread pool would delay the reads by seconds); one reader at a time, as ML.NET's
    // tracker allows, so the reports are in order; FinishAsync reads last, once this has stopped.
    private void Poll(MlNetProgress channels)
    {
        try
        {
            while (!_stop.Token.WaitHandle.WaitOne(PollInterval) && _failed is null)
            {
                Take(channels.Read(), report: true);
            }
        }
        catch (Exception read)
        {
            // A count ML.NET could not give (its own delegate threw): the fit goes on, and the job says so when it ends.
            _unread = read.GetBaseException().Message;
        }
    }

    // The largest count of the fit's computation, with the limit the trainer gave itself when it says one (SDCA's passes).
    private void Take(IReadOnlyList<MlNetProgress.Count> counts, bool report)
    {
        foreach (var count in counts)
        {
            var done = count.Done;
            if (!count.Computation.StartsWith(_counting.Computation!, StringComparison.Ordinal))
            {
                continue;
            }

            if (count.Limit is > 0 and < int.MaxValue)
            {
                Volatile.Write(ref _total, (int)count.Limit.Value);
            }

            if ((int)done > _counted)
            {
                Volatile.Write(ref _counted, (int)done);
                if (report && _counted < _total)
                {
                    Report(_counted, _counted);
                }
            }
        }
    }

    // The count's share of the fit; a report that fails is not thrown into ML.NET's fit (it would fail as the fit's own
    // error): the job sees it once the fit ends.
    private void Report(int done, int iteration)
    {
        try
        {
            var percent = _from + ((_to - _from) * done / _total);
            _run.ReportAsync(new JobProgress { Percent = percent, Stage = "training", Iteration = iteration }).GetAwaiter().GetResult();
            var tenth = (int)((long)done * LogEvents / _total);
            if (done > 0 && tenth > _logged)
            {
                _logged = tenth;
                var c = _counting;
                _run.EventAsync("log", new { message = $"{c.Noun} {done} of {_total} {c.DoneVerb}{c.Unit}", iteration = done, iterations = _total, percent }).GetAwaiter()
                    .GetResult();
            }
        }
        catch (Exception report)
        {
            _failed = ExceptionDispatchInfo.Capture(report);
        }
    }

    // How a fit's count reads ("tree 40 of 100 built", "the fit ran 14 of 100 iterations"), and the computation whose
    // channel counts it (null: FastTree's log).
    private sealed record Counting(string Noun, string DoneVerb, string FitVerb, string Unit, string? Computation);
}
