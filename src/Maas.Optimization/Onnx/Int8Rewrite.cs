namespace Maas.Optimization.Onnx;

/// <summary>What the int8 rewrite changed.</summary>
public sealed record Int8Rewrite(int MatMulsQuantized, int GemmsQuantized, int ConvsQuantized, int WeightOnly, long WeightsQuantized, IReadOnlyList<string> Skipped);
