namespace Maas.Optimization.Onnx;

/// <summary>What the static int8 rewrite changed.</summary>
public sealed record StaticInt8Rewrite(int MatMulsQuantized, int GemmsQuantized, int ConvsQuantized, long WeightsQuantized, int ActivationsQuantized, int QdqNodes, bool PerChannel)
{
    /// <summary>The opset the model was upgraded from to opset 13 for per-channel weights; null when it was not.</summary>
    public long? OpsetUpgradedFrom { get; init; }

    /// <summary>BatchNormalizations folded into the Conv before them.</summary>
    public int BatchNormsFolded { get; init; }

    /// <summary>Conv outputs (after their ReLU, where one follows) quantised, so ONNX Runtime runs those convolutions in int8.</summary>
    public int ConvOutputsQuantized { get; init; }

    /// <summary>Conv biases stored as int32 in the scale of input times weight.</summary>
    public int BiasesQuantized { get; init; }
}
