namespace Maas.Optimization.Onnx;

/// <summary>What magnitude pruning changed.</summary>
public sealed record PruneRewrite(int TensorsPruned, long Weights, long Zeroed);
