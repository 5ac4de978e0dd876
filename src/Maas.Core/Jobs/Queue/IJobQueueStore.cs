namespace Maas.Core.Jobs.Queue;

/// <summary>Persistence of queued jobs, their leases, checkpoints and events.</summary>
public interface IJobQueueStore
{
    /// <summary>Stores a new queued job.</summary>
    Task EnqueueAsync(QueuedJob job, CancellationToken cancellationToken);

    /// <summary>
    /// Stores a new queued job with its first event, at once: a worker that claims the job at once cannot write an
    /// event before this one.
    /// </summary>
    Task EnqueueAsync(QueuedJob job, string firstEventType, string firstEventData, CancellationToken cancellationToken);

    /// <summary>
    /// Stores a new queued job with its first event, as <see cref="EnqueueAsync(QueuedJob, string, string, CancellationToken)"/>
    /// does, only when the job's tenant has fewer than <see cref="UnfinishedJobLimit.Limit"/> jobs of
    /// <see cref="UnfinishedJobLimit.Kinds"/> queued or running. The count and the insert are one step for every process on
    /// the database: submissions of one tenant at the same instant, through one server or several, never pass the limit
    /// together. Nothing is stored when the outcome is not <see cref="LimitedEnqueue.Enqueued"/>.
    /// </summary>
    Task<LimitedEnqueue> TryEnqueueAsync(QueuedJob job, string firstEventType, string firstEventData, UnfinishedJobLimit limit, CancellationToken cancellationToken);

    /// <summary>One job, or null.</summary>
    Task<QueuedJob?> GetAsync(string id, CancellationToken cancellationToken);

    /// <summary>How many of <paramref name="tenant"/>'s jobs of <paramref name="kinds"/> are queued or running.</summary>
    Task<int> CountUnfinishedAsync(string tenant, IReadOnlyList<string> kinds, CancellationToken cancellationToken);

    /// <summary>Every tenant's queued and running jobs of <paramref name="kinds"/>, oldest first, at most <paramref name="limit"/>.</summary>
    Task<IReadOnlyList<QueuedJob>> ListUnfinishedAsync(IReadOnlyList<string> kinds, int limit, CancellationToken cancellationToken);

    /// <summary>Jobs of a kind, newest first; only the tenant's when <paramref name="tenant"/> is given.</summary>
    Task<IReadOnlyList<QueuedJob>> ListAsync(string kind, string? tenant, int limit, int offset, CancellationToken cancellationToken);

    /// <summary>
    /// Jobs of a kind in <see cref="JobPosition"/>'s order (newest first, then by id), only the tenant's when
    /// <paramref name="tenant"/> is given, only those after <paramref name="before"/> when it is given: a page that
    /// stays where it is while new jobs arrive.
    /// </summary>
    Task<IReadOnlyList<QueuedJob>> ListBeforeAsync(string kind, string? tenant, JobPosition? before, int limit, CancellationToken cancellationToken);

    /// <summary>
    /// Claims the oldest job of one of <paramref name="kinds"/> that is queued or whose lease has expired, for
    /// <paramref name="worker"/> until <paramref name="leaseUntil"/>; null when there is none.
    /// </summary>
    Task<QueuedJob?> ClaimAsync(IReadOnlyList<string> kinds, string worker, DateTimeOffset leaseUntil, DateTimeOffset now, CancellationToken cancellationToken);

    /// <summary>Extends the lease (and stores progress when given) if <paramref name="worker"/> still holds it.</summary>
    Task<LeaseState> RenewAsync(string id, string worker, DateTimeOffset leaseUntil, JobProgress? progress, DateTimeOffset now, CancellationToken cancellationToken);

    /// <summary>True when a model version, dataset, uploaded file or job checkpoint still uses the artifact <paramref name="key"/>.</summary>
    Task<bool> IsArtifactReferencedAsync(string key, CancellationToken cancellationToken);

    /// <summary>
    /// Ends the job if <paramref name="worker"/> still holds it; false when it does not. A <paramref name="progress"/>
    /// replaces the stored one (a job that succeeded: 100%, with the epoch and metrics it last reported); null keeps it.
    /// </summary>
    Task<bool> CompleteAsync(string id, string worker, JobStatus status, string? result, JobError? error, JobProgress? progress, DateTimeOffset now,
        CancellationToken cancellationToken);

    /// <summary>
    /// Marks the job as past its point of no return if <paramref name="worker"/> still holds it and no cancel was asked
    /// for: <see cref="LeaseState.Held"/> when it did (cancels are refused from then on, <see cref="RequestCancelAsync"/>
    /// records none), <see cref="LeaseState.CancelRequested"/> when a cancel came first (nothing changed), else
    /// <see cref="LeaseState.Lost"/>. The check and the change are one statement, as in <see cref="RequestCancelAsync"/>,
    /// so of a cancel and this call exactly one wins.
    /// </summary>
    Task<LeaseState> BeginFinishingAsync(string id, string worker, DateTimeOffset now, CancellationToken cancellationToken);

    /// <summary>
    /// Asks a job to stop: a queued one is cancelled at once, a running one when its worker notices. Null when it does
    /// not exist. Of two requests at the same instant only one is <see cref="CancelOutcome.Recorded"/>: the check and
    /// the change are one statement. A job past its point of no return (<see cref="QueuedJob.Finishing"/>) is not
    /// cancelled: the outcome is not recorded.
    /// </summary>
    Task<CancelOutcome?> RequestCancelAsync(string id, DateTimeOffset now, CancellationToken cancellationToken);

    /// <summary>
    /// Raised in this process after <see cref="RequestCancelAsync"/> recorded a request for a running job, so a worker of
    /// this process that runs it stops at once instead of at its next heartbeat (workers elsewhere still notice there).
    /// </summary>
    event Action<string>? CancelRequested;

    /// <summary>Stores a checkpoint if <paramref name="worker"/> still holds the job; false when it does not.</summary>
    Task<bool> SaveCheckpointAsync(string id, string worker, JobCheckpoint checkpoint, CancellationToken cancellationToken);

    /// <summary>Appends an event and returns its sequence number.</summary>
    Task<long> AddEventAsync(string id, string type, string data, DateTimeOffset now, CancellationToken cancellationToken);

    /// <summary>Events after <paramref name="after"/>, oldest first.</summary>
    Task<IReadOnlyList<JobEvent>> ListEventsAsync(string id, long after, int limit, CancellationToken cancellationToken);
}
