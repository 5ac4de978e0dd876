namespace Maas.Core.Jobs.Queue;

/// <summary>
/// A job kept in the database until a worker (in this process or another machine) claims it with a lease: training,
/// fine-tuning, optimisation. Its kind picks the <see cref="IJobHandler"/>; its spec is the handler's JSON input.
/// </summary>
public sealed record QueuedJob
{
    /// <summary>The random id.</summary>
    public required string Id { get; init; }

    /// <summary>What it does ("training", ...): the handler that runs it.</summary>
    public required string Kind { get; init; }

    /// <summary>The tenant it belongs to: only that tenant (and admins) may see or cancel it.</summary>
    public required string Tenant { get; init; }

    /// <summary>Queued, running, succeeded, failed or cancelled.</summary>
    public JobStatus Status { get; init; }

    /// <summary>The handler's input, JSON.</summary>
    public string Spec { get; init; } = "{}";

    /// <summary>The latest progress the worker reported.</summary>
    public JobProgress Progress { get; init; } = new();

    /// <summary>What it produced, JSON (null until it succeeds).</summary>
    public string? Result { get; init; }

    /// <summary>Why it failed or was cancelled.</summary>
    public JobError? Error { get; init; }

    /// <summary>True once a caller asked it to stop (a worker in the same process at once, one elsewhere on its next heartbeat).</summary>
    public bool CancelRequested { get; init; }

    /// <summary>
    /// True once its worker passed the job's point of no return (<see cref="JobRun.BeginFinishingAsync"/>: it is
    /// registering its result); a cancel is refused from then on and the job ends as its work does.
    /// </summary>
    public bool Finishing { get; init; }

    /// <summary>How many times a worker claimed it (more than one: a worker died or lost its lease).</summary>
    public int Attempts { get; init; }

    /// <summary>The worker holding it now (running) or last (finished).</summary>
    public string? Worker { get; init; }

    /// <summary>When the worker's lease ends unless renewed; another worker may claim the job after that.</summary>
    public DateTimeOffset? LeaseExpiresAt { get; init; }

    /// <summary>The last checkpoint the job saved, for a worker that takes it over.</summary>
    public JobCheckpoint? Checkpoint { get; init; }

    /// <summary>Who submitted it.</summary>
    public string CreatedBy { get; init; } = "";

    /// <summary>When it was submitted.</summary>
    public DateTimeOffset CreatedAt { get; init; }

    /// <summary>When a worker first started it.</summary>
    public DateTimeOffset? StartedAt { get; init; }

    /// <summary>When it last changed.</summary>
    public DateTimeOffset UpdatedAt { get; init; }

    /// <summary>When it ended.</summary>
    public DateTimeOffset? FinishedAt { get; init; }

    /// <summary>True once it can change no more.</summary>
    public bool IsFinished => Status is JobStatus.Succeeded or JobStatus.Failed or JobStatus.Cancelled;
}

/// <summary>How far a job is: percent, stage, epoch or iteration, the latest metrics and the estimated time left.</summary>
public sealed record JobProgress
{
    /// <summary>Percent done, 0-100.</summary>
    public double Percent { get; init; }

    /// <summary>What it is doing now ("loading", "training", "evaluating", ...).</summary>
    public string? Stage { get; init; }

    /// <summary>The epoch, for trainers that have them.</summary>
    public int? Epoch { get; init; }

    /// <summary>The iteration (trees, passes, steps), for trainers that report them.</summary>
    public long? Iteration { get; init; }

    /// <summary>The latest metrics (snake_case names).</summary>
    public IReadOnlyDictionary<string, double>? Metrics { get; init; }

    /// <summary>Estimated seconds left.</summary>
    public double? EtaSeconds { get; init; }
}

/// <summary>A job's saved state: a stage name, an optional file in the artifact store and optional JSON.</summary>
public sealed record JobCheckpoint(string Stage, string? ArtifactKey, string? Data, DateTimeOffset At);

/// <summary>One entry of a job's event log: status changes, progress, metrics, checkpoints, messages.</summary>
public sealed record JobEvent(long Seq, DateTimeOffset At, string Type, string Data);

/// <summary>What a worker's heartbeat learned about its lease.</summary>
public enum LeaseState
{
    /// <summary>Still ours.</summary>
    Held,

    /// <summary>Still ours, and a caller asked the job to stop.</summary>
    CancelRequested,

    /// <summary>Gone: it expired and another worker took the job, or the job ended.</summary>
    Lost,
}

/// <summary>
/// What <see cref="IJobQueueStore.RequestCancelAsync"/> did: the job as it is afterwards, and whether this request changed
/// it (false when it had ended or its cancel was already asked for, maybe by a request that arrived at the same instant).
/// </summary>
public sealed record CancelOutcome(QueuedJob Job, bool Recorded);

/// <summary>At most <paramref name="Limit"/> of one tenant's jobs of <paramref name="Kinds"/> queued or running at once.</summary>
public sealed record UnfinishedJobLimit(IReadOnlyList<string> Kinds, int Limit);

/// <summary>
/// What <see cref="IJobQueueStore.TryEnqueueAsync"/> did: whether it stored the job, and how many of the tenant's jobs
/// the limit counts were queued or running just before (the limit or more when it did not).
/// </summary>
public readonly record struct LimitedEnqueue(bool Enqueued, int Unfinished);
