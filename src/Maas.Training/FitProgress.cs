using System.Runtime.ExceptionServices;
using Maas.Core.Jobs.Queue;
using Microsoft.ML;
using Microsoft.ML.Runtime;

namespace Maas.Training;

/// <summary>
/// A table fit's progress while it runs, from ML.NET's own log. FastTree writes "numTotalTrees left" on its trace channel
/// before each tree it builds (each class's model in turn for one-versus-all multiclass), so the trees started out of
/// the trees asked for map into the fit's share of the job's percent: the job reports percent and the tree after each
/// tree started (stored a few times a second by <see cref="JobRun.ReportAsync"/>) and a "log" event ("tree 40 of 100")
/// at each tenth of the trees. LightGBM, SDCA and L-BFGS say nothing per iteration through <see cref="MLContext.Log"/>
/// (ML.NET keeps their progress on internal progress channels an <see cref="MLContext"/> does not expose), so their
/// fits report nothing until they end: no progress is made up for them.
/// </summary>
internal sealed class FitProgress : IDisposable
{
    /// <summary>What FastTree's trace says once before each tree it builds.</summary>
    internal const string TreeStarted = "numTotalTrees left";

    /// <summary>"log" events over a whole fit (one at each tenth of its trees).</summary>
    internal const int LogEvents = 10;

    private readonly JobRun _run;
    private readonly MLContext _context;
    private readonly int _total;
    private readonly double _from;
    private readonly double _to;
    private readonly string _unit;
    private readonly Lock _gate = new();
    private int _started;
    private int _logged;
    private ExceptionDispatchInfo? _failed;

    private FitProgress(JobRun run, MLContext context, int total, double from, double to, string unit)
    {
        _run = run;
        _context = context;
        _total = total;
        _from = from;
        _to = to;
        _unit = unit;
        context.Log += OnLog;
    }

    /// <summary>
    /// Watches the fit <paramref name="trainer"/> is about to run and maps it into <paramref name="from"/>..<paramref name="to"/>
    /// percent; null when its trainer gives no signal during a fit.
    /// </summary>
    public static FitProgress? Watch(JobRun run, TabularTrainer trainer, double from, double to) => trainer.TreesToFit is { Total: > 0 } trees
        ? new FitProgress(run, trainer.Context, trees.Total, from, to, trees.Classes > 1 ? $"{trees.Total / trees.Classes} trees for each of {trees.Classes} classes" : "")
        : null;

    /// <summary>Trees the fit has started so far.</summary>
    public int Started => Volatile.Read(ref _started);

    /// <summary>The fit ended: the job is at the end of the fit's share, and a "log" event says how many trees were built.</summary>
    public async Task FinishAsync()
    {
        Dispose();
        _failed?.Throw();
        var built = Math.Min(Started, _total);
        await _run.ReportAsync(new JobProgress { Percent = _to, Stage = "training", Iteration = built });
        await _run.EventAsync("log", new { message = $"the fit built {built} of {_total} trees{Unit()}", iteration = built, iterations = _total, percent = _to });
    }

    // How the total is made, for a multiclass fit.
    private string Unit() => _unit.Length > 0 ? $" ({_unit})" : "";

    /// <summary>Stops reading ML.NET's log.</summary>
    public void Dispose() => _context.Log -= OnLog;

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
            var tree = ++_started;
            if (tree > _total || _failed is not null)
            {
                return;
            }

            try
            {
                Report(tree);
            }
            catch (Exception report)
            {
                // Not thrown into ML.NET's fit (it would fail as the fit's own error): the job sees it once the fit ends.
                _failed = ExceptionDispatchInfo.Capture(report);
            }
        }
    }

    private void Report(int tree)
    {
        var done = tree - 1;
        var percent = _from + ((_to - _from) * done / _total);
        _run.ReportAsync(new JobProgress { Percent = percent, Stage = "training", Iteration = tree }).GetAwaiter().GetResult();
        var tenth = (int)((long)done * LogEvents / _total);
        if (done > 0 && tenth > _logged)
        {
            _logged = tenth;
            _run.EventAsync("log", new { message = $"tree {done} of {_total} built{Unit()}", iteration = done, iterations = _total, percent }).GetAwaiter().GetResult();
        }
    }
}
