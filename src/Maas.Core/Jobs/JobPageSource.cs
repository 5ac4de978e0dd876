namespace Maas.Core.Jobs;

/// <summary>
/// Reads up to <paramref name="limit"/> jobs of one source after <paramref name="after"/> (all from the start when
/// null), in <see cref="JobPosition"/>'s order, from the database.
/// </summary>
public delegate Task<IReadOnlyList<ListedJob<T>>> JobPageSource<T>(JobPosition? after, int limit)
    where T : class;
