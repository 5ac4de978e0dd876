namespace Maas.Optimization.Onnx;

/// <summary>What the float16 rewrite changed.</summary>
public sealed record Float16Rewrite(int TensorsConverted, long ValuesConverted, long ValuesOverflowed);
