namespace Maas.Core.Formats.Onnx;

/// <summary>A graph input or output: its name, element type and shape.</summary>
/// <param name="Name">The tensor name used to feed or fetch it.</param>
/// <param name="ElementType">The ONNX TensorProto.DataType value (see <see cref="OnnxElementType"/>); 0 for non-tensor values.</param>
/// <param name="KServeDatatype">The KServe v2 datatype ("FP32", "INT64", "BYTES", ...); for types KServe lacks, the ONNX name in capitals, and "SEQUENCE", "MAP" or "OPTIONAL" for
/// non-tensor values.</param>
/// <param name="Shape">The dimensions; empty for a scalar, and also empty when the model gives no shape (see <paramref name="RankKnown"/>).</param>
/// <param name="RankKnown">False when the model declares no shape at all, so any rank is accepted.</param>
public sealed record OnnxValueInfo(string Name, int ElementType, string KServeDatatype, IReadOnlyList<OnnxDimension> Shape, bool RankKnown = true)
{
    /// <summary>The element type as the enum.</summary>
    public OnnxElementType Type => (OnnxElementType)ElementType;

    /// <summary>The shape as numbers, -1 for symbolic dimensions.</summary>
    public long[] Dims => Shape.Select(d => d.Value).ToArray();
}
