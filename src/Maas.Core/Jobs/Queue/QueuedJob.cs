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
