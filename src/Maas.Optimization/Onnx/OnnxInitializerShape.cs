namespace Maas.Optimization.Onnx;

/// <summary>An initializer's name, element type and shape, read without its values.</summary>
public sealed record OnnxInitializerShape(string Name, int DataType, IReadOnlyList<long> Dims)
{
    /// <summary>How many values the shape holds.</summary>
    public long Count => Dims.Aggregate(1L, (a, d) => a * d);
}
