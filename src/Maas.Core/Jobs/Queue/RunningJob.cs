namespace Maas.Core.Jobs.Queue;

/// <summary>The job a worker runs, and what wakes its heartbeat.</summary>
internal sealed record RunningJob(string Id, SemaphoreSlim Beat);
