namespace Maas.Optimization.Onnx;

/// <summary>What structured pruning changed.</summary>
public sealed record StructuredPruneRewrite(int LayersPruned, long UnitsBefore, long UnitsRemoved);
