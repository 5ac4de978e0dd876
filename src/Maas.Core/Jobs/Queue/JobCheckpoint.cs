namespace Maas.Core.Jobs.Queue;

/// <summary>A job's saved state: a stage name, an optional file in the artifact store and optional JSON.</summary>
public sealed record JobCheckpoint(string Stage, string? ArtifactKey, string? Data, DateTimeOffset At);
