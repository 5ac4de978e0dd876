using Maas.Core.Formats.Onnx;

namespace Maas.Runtimes.Onnx;

/// <summary>A session input or output: name, element type and shape (symbolic dimensions are -1 with their name).</summary>
/// <param name="Name">The name to feed or fetch.</param>
/// <param name="ElementType">The element type; <see cref="OnnxElementType.Undefined"/> for non-tensor values.</param>
/// <param name="Shape">The dimensions as ONNX Runtime reports them.</param>
/// <param name="IsTensor">False for sequences, maps and optionals.</param>
public sealed record OnnxNodeInfo(string Name, OnnxElementType ElementType, IReadOnlyList<OnnxDimension> Shape, bool IsTensor)
{
    /// <summary>The dimensions as numbers, -1 where symbolic.</summary>
    public long[] Dims => Shape.Select(d => d.Value).ToArray();

    /// <summary>The KServe v2 datatype name.</summary>
    public string KServeDatatype => IsTensor ? OnnxElementTypes.DisplayName(ElementType) : "UNSUPPORTED";
}
