namespace Maas.Core.Jobs.Queue;

/// <summary>At most <paramref name="Limit"/> of one tenant's jobs of <paramref name="Kinds"/> queued or running at once.</summary>
public sealed record UnfinishedJobLimit(IReadOnlyList<string> Kinds, int Limit);
