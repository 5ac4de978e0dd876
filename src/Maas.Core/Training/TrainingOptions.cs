namespace Maas.Core.Training;

/// <summary>Where and how training jobs run ("Maas:Training" section).</summary>
public sealed class TrainingOptions
{
    /// <summary>The configuration section these options bind from.</summary>
    public const string Section = "Maas:Training";

    /// <summary>Jobs this process runs at once (in-process workers); 0 leaves jobs to workers elsewhere.</summary>
    public int Workers { get; set; } = 1;

    /// <summary>Threads one job's trainer may use; default half the cores (at least 1), so serving keeps the rest.</summary>
    public int Threads { get; set; } = Math.Max(1, Environment.ProcessorCount / 2);

    /// <summary>
    /// The nice value (0 to 19) a neural network's training computes at, on Linux: above 0 it gives way to serving on
    /// the same cores (docs/training.md). The default, 10, kept serving at 0.70x of its idle throughput while a job
    /// trained, against 0.18x at 0 (docs/benchmarks.md); 0 computes at normal priority.
    /// </summary>
    public int Nice { get; set; } = 10;

    /// <summary>
    /// The share of wall time (0 &lt; x &lt;= 1) an in-process neural network's training may compute while this process
    /// serves requests: after a batch that overlapped serving it waits (batch time x (1 - share) / share) before the
    /// next; at full speed when serving is idle. 1 turns it off. Workers in other processes do not see serving
    /// (docs/training.md). The default, 0.25, kept serving at 0.82x of its idle throughput in the benchmark where 0.5
    /// kept 0.77x and 1 (off) 0.58x (docs/benchmarks.md).
    /// </summary>
    public double ServingShare { get; set; } = DefaultServingShare;

    /// <summary>The default of <see cref="ServingShare"/>.</summary>
    public const double DefaultServingShare = 0.25;

    /// <summary>Seconds a worker's claim lasts without a heartbeat; a dead worker's job is taken over after this.</summary>
    public int LeaseSeconds { get; set; } = 30;

    /// <summary>How often an idle worker looks for queued jobs, in milliseconds.</summary>
    public int PollMilliseconds { get; set; } = 1000;

    /// <summary>Claims of one job before it is failed as lost (its workers keep dying).</summary>
    public int MaxAttempts { get; set; } = 3;

    /// <summary>The most trials one hyperparameter search may run (default 50).</summary>
    public int MaxSearchTrials { get; set; } = 50;

    /// <summary>
    /// The most training, fine-tuning and optimisation jobs one tenant may have queued or running (a search's trials
    /// not counted): the queue is first come, first served, so without it one tenant could hold every worker for days.
    /// </summary>
    public int MaxUnfinishedJobsPerTenant { get; set; } = 100;

    /// <summary>The problems with these settings, each naming its key.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (Workers is < 0 or > 64)
        {
            errors.Add($"{Section}:Workers must be between 0 and 64, not {Workers}");
        }

        if (Threads is < 1 or > 1024)
        {
            errors.Add($"{Section}:Threads must be between 1 and 1024, not {Threads}");
        }

        if (Nice is < 0 or > 19)
        {
            errors.Add($"{Section}:Nice must be between 0 and 19, not {Nice}");
        }

        if (!(ServingShare > 0 && ServingShare <= 1))
        {
            errors.Add($"{Section}:ServingShare must be above 0 and at most 1 (1: training does not give way to serving), not " +
                $"{ServingShare.ToString(System.Globalization.CultureInfo.InvariantCulture)}");
        }

        if (LeaseSeconds is < 2 or > 3600)
        {
            errors.Add($"{Section}:LeaseSeconds must be between 2 and 3600, not {LeaseSeconds}");
        }

        if (PollMilliseconds is < 10 or > 60_000)
        {
            errors.Add($"{Section}:PollMilliseconds must be between 10 and 60000, not {PollMilliseconds}");
        }

        if (MaxUnfinishedJobsPerTenant is < 1 or > 1_000_000)
        {
            errors.Add($"{Section}:MaxUnfinishedJobsPerTenant must be between 1 and 1000000, not {MaxUnfinishedJobsPerTenant}");
        }

        if (MaxSearchTrials is < 1 or > 10_000)
        {
            errors.Add($"{Section}:MaxSearchTrials must be between 1 and 10000, not {MaxSearchTrials}");
        }

        if (MaxAttempts is < 1 or > 100)
        {
            errors.Add($"{Section}:MaxAttempts must be between 1 and 100, not {MaxAttempts}");
        }

        return errors;
    }
}
