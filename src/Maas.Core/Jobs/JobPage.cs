namespace Maas.Core.Jobs;

/// <summary>A page of jobs and where the next one starts (null when no job follows).</summary>
public sealed record JobPage<T>(IReadOnlyList<T> Jobs, JobPosition? Next);
