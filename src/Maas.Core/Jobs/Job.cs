namespace Maas.Core.Jobs;

/// <summary>Where a background job is in its life.</summary>
public enum JobStatus
{
    /// <summary>Waiting for a free worker.</summary>
    Queued,

    /// <summary>Working.</summary>
    Running,

    /// <summary>Done; <see cref="Job.Result"/> says what it made.</summary>
    Succeeded,

    /// <summary>Stopped by an error; <see cref="Job.Error"/> says which.</summary>
    Failed,

    /// <summary>Stopped by a caller.</summary>
    Cancelled,
}

/// <summary>Why a job failed: a stable code and a message.</summary>
public sealed record JobError(string Code, string Message);

/// <summary>A long-running operation (an import) that callers poll for progress.</summary>
public sealed record Job
{
    /// <summary>The random id.</summary>
    public required string Id { get; init; }

    /// <summary>What it does ("import").</summary>
    public required string Kind { get; init; }

    /// <summary>Its status.</summary>
    public JobStatus Status { get; init; }

    /// <summary>The model it works on.</summary>
    public string? Model { get; init; }

    /// <summary>The tenant the job belongs to (its model's owner): only that tenant and admins see it.</summary>
    public string? Tenant { get; init; }

    /// <summary>The version it works on.</summary>
    public int? Version { get; init; }

    /// <summary>Bytes done so far.</summary>
    public long BytesDone { get; init; }

    /// <summary>Bytes in all, when known.</summary>
    public long? BytesTotal { get; init; }

    /// <summary>What it is doing now, for people ("downloading", "validating", ...).</summary>
    public string? Stage { get; init; }

    /// <summary>Percent done (0-100), when the total is known; 100 once succeeded.</summary>
    public double? Progress => Status == JobStatus.Succeeded
        ? 100
        : BytesTotal is > 0 and var total ? Math.Round(Math.Min(100, 100.0 * BytesDone / total), 2) : null;

    /// <summary>Why it failed.</summary>
    public JobError? Error { get; init; }

    /// <summary>What it produced, as a small JSON-friendly map (e.g. the version number).</summary>
    public IReadOnlyDictionary<string, object?>? Result { get; init; }

    /// <summary>Who started it.</summary>
    public string CreatedBy { get; init; } = "";

    /// <summary>When it was started.</summary>
    public DateTimeOffset CreatedAt { get; init; }

    /// <summary>When it last changed.</summary>
    public DateTimeOffset UpdatedAt { get; init; }

    /// <summary>When it ended.</summary>
    public DateTimeOffset? FinishedAt { get; init; }

    /// <summary>True once a caller asked it to stop (live state of a job running on this server; not stored).</summary>
    public bool CancelRequested { get; init; }

    /// <summary>
    /// True while it commits its result, past its point of no return: a cancel is refused from then on (live state of a
    /// job running on this server; not stored).
    /// </summary>
    public bool Finishing { get; init; }

    /// <summary>True once it can change no more.</summary>
    public bool IsFinished => Status is JobStatus.Succeeded or JobStatus.Failed or JobStatus.Cancelled;
}

/// <summary>Persistence of jobs, so progress and outcomes outlive the request that started them.</summary>
public interface IJobStore
{
    /// <summary>Stores a new job.</summary>
    Task CreateJobAsync(Job job, CancellationToken cancellationToken);

    /// <summary>Stores a job's new state.</summary>
    Task UpdateJobAsync(Job job, CancellationToken cancellationToken);

    /// <summary>One job, or null.</summary>
    Task<Job?> GetJobAsync(string id, CancellationToken cancellationToken);

    /// <summary>
    /// The newest jobs first (by creation time, then id: <see cref="JobPosition"/>'s order); of one tenant only when
    /// <paramref name="tenant"/> is given; only those after <paramref name="before"/> in that order when it is given.
    /// </summary>
    Task<IReadOnlyList<Job>> ListJobsAsync(int limit, string? tenant, JobPosition? before, CancellationToken cancellationToken);

    /// <summary>Marks every queued or running job failed with <paramref name="error"/> (they died with a previous process).</summary>
    Task<int> FailUnfinishedJobsAsync(JobError error, DateTimeOffset now, CancellationToken cancellationToken);
}
