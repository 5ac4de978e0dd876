namespace Maas.Optimization.Onnx;

/// <summary>How many ONNX-ML linear nodes <see cref="OnnxLinearLowering.Lower"/> rewrote.</summary>
public sealed record LinearLoweringResult(int Classifiers, int Regressors)
{
    /// <summary>Both kinds.</summary>
    public int Total => Classifiers + Regressors;
}
