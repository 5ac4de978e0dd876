namespace Maas.Core.TensorServing;

/// <summary>A point-in-time copy of one model version's statistics, shaped like the v2 statistics extension.</summary>
public sealed record ModelStatisticsSnapshot(
    string Name,
    string Version,
    long LastInference,
    long InferenceCount,
    long ExecutionCount,
    DurationStat Success,
    DurationStat Fail,
    DurationStat Queue,
    DurationStat ComputeInput,
    DurationStat ComputeInfer,
    DurationStat ComputeOutput,
    IReadOnlyList<BatchStat> BatchStats);
