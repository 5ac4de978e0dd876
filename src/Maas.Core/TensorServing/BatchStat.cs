namespace Maas.Core.TensorServing;

/// <summary>Compute times of the executions that ran with one batch size.</summary>
public sealed record BatchStat(long BatchSize, DurationStat ComputeInput, DurationStat ComputeInfer, DurationStat ComputeOutput);
