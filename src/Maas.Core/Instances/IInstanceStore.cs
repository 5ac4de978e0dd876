namespace Maas.Core.Instances;

/// <summary>The processes sharing one database, each a row with its last heartbeat (table <c>maas_instances</c>).</summary>
public interface IInstanceStore
{
    /// <summary>Records <paramref name="id"/>'s heartbeat at <paramref name="now"/>, adding its row when missing (its first beat, or after it was taken for dead).</summary>
    Task BeatAsync(string id, string kind, string host, DateTimeOffset startedAt, DateTimeOffset now, CancellationToken cancellationToken);

    /// <summary>Removes <paramref name="id"/>'s row (a clean stop).</summary>
    Task RemoveInstanceAsync(string id, CancellationToken cancellationToken);

    /// <summary>The ids of the processes whose last heartbeat is at or after <paramref name="lapsedBefore"/>.</summary>
    Task<IReadOnlySet<string>> ListLiveInstancesAsync(DateTimeOffset lapsedBefore, CancellationToken cancellationToken);

    /// <summary>Removes the rows of processes whose last heartbeat is before <paramref name="lapsedBefore"/>; returns how many.</summary>
    Task<int> RemoveLapsedInstancesAsync(DateTimeOffset lapsedBefore, CancellationToken cancellationToken);
}
