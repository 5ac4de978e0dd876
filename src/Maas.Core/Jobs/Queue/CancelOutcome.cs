namespace Maas.Core.Jobs.Queue;

/// <summary>
/// What <see cref="IJobQueueStore.RequestCancelAsync"/> did: the job as it is afterwards, and whether this request changed
/// it (false when it had ended or its cancel was already asked for, maybe by a request that arrived at the same instant).
/// </summary>
public sealed record CancelOutcome(QueuedJob Job, bool Recorded);
