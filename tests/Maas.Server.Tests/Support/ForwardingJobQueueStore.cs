using Maas.Core.Jobs;
using Maas.Core.Jobs.Queue;

namespace Maas.Server.Tests.Support;

/// <summary>A job store that hands every call to the server's real one; a test overrides the calls it holds or meets.</summary>
internal abstract class ForwardingJobQueueStore : IJobQueueStore
{
    /// <summary>The real store (set when the server's container builds this one).</summary>
    protected IJobQueueStore Inner { get; set; } = null!;

    public event Action<string>? CancelRequested
    {
        add => Inner.CancelRequested += value;
        remove => Inner.CancelRequested -= value;
    }

    public virtual Task EnqueueAsync(QueuedJob job, CancellationToken cancellationToken) => Inner.EnqueueAsync(job, cancellationToken);

    public virtual Task EnqueueAsync(QueuedJob job, string firstEventType, string firstEventData, CancellationToken cancellationToken) =>
        Inner.EnqueueAsync(job, firstEventType, firstEventData, cancellationToken);

    public virtual Task<LimitedEnqueue> TryEnqueueAsync(QueuedJob job, string firstEventType, string firstEventData, UnfinishedJobLimit limit,
        CancellationToken cancellationToken) =>
        Inner.TryEnqueueAsync(job, firstEventType, firstEventData, limit, cancellationToken);

    public virtual Task<QueuedJob?> GetAsync(string id, CancellationToken cancellationToken) => Inner.GetAsync(id, cancellationToken);

    public virtual Task<int> CountUnfinishedAsync(string tenant, IReadOnlyList<string> kinds, CancellationToken cancellationToken) =>
        Inner.CountUnfinishedAsync(tenant, kinds, cancellationToken);

    public virtual Task<IReadOnlyList<QueuedJob>> ListUnfinishedAsync(IReadOnlyList<string> kinds, int limit, CancellationToken cancellationToken) =>
        Inner.ListUnfinishedAsync(kinds, limit, cancellationToken);

    public virtual Task<IReadOnlyList<QueuedJob>> ListAsync(string kind, string? tenant, int limit, int offset, CancellationToken cancellationToken) =>
        Inner.ListAsync(kind, tenant, limit, offset, cancellationToken);

    public virtual Task<IReadOnlyList<QueuedJob>> ListBeforeAsync(string kind, string? tenant, JobPosition? before, int limit, CancellationToken cancellationToken) =>
        Inner.ListBeforeAsync(kind, tenant, before, limit, cancellationToken);

    public virtual Task<QueuedJob?> ClaimAsync(IReadOnlyList<string> kinds, string worker, DateTimeOffset leaseUntil, DateTimeOffset now, CancellationToken cancellationToken) =>
        Inner.ClaimAsync(kinds, worker, leaseUntil, now, cancellationToken);

    public virtual Task<LeaseState> RenewAsync(string id, string worker, DateTimeOffset leaseUntil, JobProgress? progress, DateTimeOffset now,
        CancellationToken cancellationToken) =>
        Inner.RenewAsync(id, worker, leaseUntil, progress, now, cancellationToken);

    public virtual Task<bool> IsArtifactReferencedAsync(string key, CancellationToken cancellationToken) => Inner.IsArtifactReferencedAsync(key, cancellationToken);

    public virtual Task<bool> CompleteAsync(string id, string worker, JobStatus status, string? result, JobError? error, JobProgress? progress, DateTimeOffset now,
        CancellationToken cancellationToken) =>
        Inner.CompleteAsync(id, worker, status, result, error, progress, now, cancellationToken);

    public virtual Task<LeaseState> BeginFinishingAsync(string id, string worker, DateTimeOffset now, CancellationToken cancellationToken) =>
        Inner.BeginFinishingAsync(id, worker, now, cancellationToken);

    public virtual Task<CancelOutcome?> RequestCancelAsync(string id, DateTimeOffset now, CancellationToken cancellationToken) =>
        Inner.RequestCancelAsync(id, now, cancellationToken);

    public virtual Task<bool> SaveCheckpointAsync(string id, string worker, JobCheckpoint checkpoint, CancellationToken cancellationToken) =>
        Inner.SaveCheckpointAsync(id, worker, checkpoint, cancellationToken);

    public virtual Task<long> AddEventAsync(string id, string type, string data, DateTimeOffset now, CancellationToken cancellationToken) =>
        Inner.AddEventAsync(id, type, data, now, cancellationToken);

    public virtual Task<IReadOnlyList<JobEvent>> ListEventsAsync(string id, long after, int limit, CancellationToken cancellationToken) =>
        Inner.ListEventsAsync(id, after, limit, cancellationToken);
}
