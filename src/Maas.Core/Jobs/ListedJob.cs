namespace Maas.Core.Jobs;

/// <summary>One job a source listed: its place in the list, and what to show of it (null: the caller may not see it).</summary>
public readonly record struct ListedJob<T>(JobPosition Position, T? Shown)
    where T : class;
