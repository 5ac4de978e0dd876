namespace Maas.Optimization.Onnx;

/// <summary>The range an activation took over the calibration rows, as quantisation will use it.</summary>
public sealed record ActivationRange(float Min, float Max);
