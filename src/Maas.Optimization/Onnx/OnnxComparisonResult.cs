namespace Maas.Optimization.Onnx;

/// <summary>How a rewritten model compares with its source on the same seeded sample inputs, and how fast each runs.</summary>
public sealed record OnnxComparisonResult
{
    /// <summary>Sample inputs compared.</summary>
    public required int Samples { get; init; }

    /// <summary>Largest absolute difference of any float output value.</summary>
    public required double MaxAbsDiff { get; init; }

    /// <summary>Mean absolute difference over every float output value.</summary>
    public required double MeanAbsDiff { get; init; }

    /// <summary>Mean absolute value of the source's float outputs (the scale the differences are read against).</summary>
    public required double SourceMeanAbs { get; init; }

    /// <summary>Output values that are NaN or infinite in the candidate but finite in the source.</summary>
    public required long NonFiniteValues { get; init; }

    /// <summary>Share of rows whose largest entry (last axis) is at the same index; null when no output has rows of more than one entry.</summary>
    public double? Top1Agreement { get; init; }

    /// <summary>Non-float output values that differ.</summary>
    public required long MismatchedValues { get; init; }

    /// <summary>Median milliseconds of one call at batch 1: the source.</summary>
    public required double SourceLatencyP50Ms { get; init; }

    /// <summary>Median milliseconds of one call at batch 1: the candidate.</summary>
    public required double LatencyP50Ms { get; init; }

    /// <summary>The batch throughput was measured at: the one asked for when every input's first dimension is open, else 1.</summary>
    public int ThroughputBatch { get; init; } = 1;

    /// <summary>Items per second of the source at <see cref="ThroughputBatch"/> (median call time of interleaved calls).</summary>
    public double SourceThroughputPerSecond { get; init; }

    /// <summary>Items per second of the candidate at <see cref="ThroughputBatch"/>.</summary>
    public double ThroughputPerSecond { get; init; }

    /// <summary>Why throughput is at a smaller batch than asked for (a fixed batch dimension, the input size cap); null when it is not.</summary>
    public string? ThroughputNote { get; init; }
}
