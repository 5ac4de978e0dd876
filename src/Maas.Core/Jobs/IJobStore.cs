namespace Maas.Core.Jobs;

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

    /// <summary>
    /// Marks the queued or running jobs no live process runs failed with <paramref name="error"/>: those of instances
    /// whose heartbeat is before <paramref name="lapsedBefore"/> (or gone), and those of none (created before instances
    /// were recorded). Jobs a live process runs are left alone.
    /// </summary>
    Task<int> FailUnfinishedJobsAsync(JobError error, DateTimeOffset now, DateTimeOffset lapsedBefore, CancellationToken cancellationToken);
}
