namespace Maas.Optimization.Onnx;

/// <summary>What the int4 rewrite changed.</summary>
public sealed record Int4Rewrite(int MatMulsQuantized, long WeightsQuantized, int BlockSize);
