namespace Maas.Core.Jobs.Queue;

/// <summary>
/// What <see cref="IJobQueueStore.TryEnqueueAsync"/> did: whether it stored the job, and how many of the tenant's jobs
/// the limit counts were queued or running just before (the limit or more when it did not).
/// </summary>
public readonly record struct LimitedEnqueue(bool Enqueued, int Unfinished);
