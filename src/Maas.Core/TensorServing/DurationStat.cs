namespace Maas.Core.TensorServing;

/// <summary>A count and a cumulative duration in nanoseconds (the statistics extension's StatisticDuration).</summary>
public readonly record struct DurationStat(long Count, long Ns);
