using Maas.Core.Formats.Onnx;

namespace Maas.Runtimes.Onnx;

/// <summary>A session input or output: name, element type and shape (symbolic dimensions are -1 with their name).</summary>
/// <param name="Name">The name to feed or fetch.</param>
/// <param name="ElementType">The element type; <see cref="OnnxElementType.Undefined"/> for non-tensor values.</param>
/// <param name="Shape">The dimensions as ONNX Runtime reports them.</param>
/// <param name="IsTensor">False for sequences, maps and optionals, except a <c>ZipMap</c>'s output (see <paramref name="FromMaps"/>).</param>
/// <param name="FromMaps">An output that is a sequence of maps, fetched as the FP32 tensor [rows, classes] (<see cref="Core.Formats.Onnx.ZipMapColumns"/>).</param>
public sealed record OnnxNodeInfo(string Name, OnnxElementType ElementType, IReadOnlyList<OnnxDimension> Shape, bool IsTensor, bool FromMaps = false)
{
    /// <summary>The dimensions as numbers, -1 where symbolic.</summary>
    public long[] Dims => Shape.Select(d => d.Value).ToArray();

    /// <summary>The KServe v2 datatype name.</summary>
    public string KServeDatatype => IsTensor ? OnnxElementTypes.DisplayName(ElementType) : "UNSUPPORTED";
}
