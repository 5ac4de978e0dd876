namespace Maas.Core.Jobs.Queue;

/// <summary>One entry of a job's event log: status changes, progress, metrics, checkpoints, messages.</summary>
public sealed record JobEvent(long Seq, DateTimeOffset At, string Type, string Data);
