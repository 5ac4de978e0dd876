namespace Maas.Optimization.Onnx;

/// <summary>How calibration turns the values an activation took into the range it is quantised to.</summary>
public enum CalibrationMethod
{
    /// <summary>The smallest and largest value seen: nothing clips, but one outlier widens every step.</summary>
    MinMax,

    /// <summary>The given percentile of the absolute values: the rare outliers clip, the common values get finer steps.</summary>
    Percentile,
}
