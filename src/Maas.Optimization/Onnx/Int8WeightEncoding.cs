using Maas.Core.Formats.Onnx;
using Maas.Core.Formats.Onnx.Proto;

namespace Maas.Optimization.Onnx;

/// <summary>
/// How the int8 rewrites store the weights that integer kernels multiply with uint8 activations. x86 CPUs without VNNI
/// (AVX2, AVX-512F) multiply uint8 by int8 with an instruction that adds two products in a saturating 16-bit lane:
/// 2 x 255 x 127 overflows it and wrong sums follow. Unsigned weights (zero point 128) run the uint8 x uint8 kernels,
/// which widen first and are exact everywhere at full 8-bit precision; signed weights run the uint8 x int8 kernels
/// (faster on VNNI CPUs and GPUs), kept to -63..63 unless the reduced range is turned off.
/// </summary>
/// <param name="Unsigned">Weights stored as uint8 with zero point 128 (the default), or as int8 with zero point 0.</param>
/// <param name="ReduceRange">Signed weights only: 7 bits (-63..63), exact on CPUs without VNNI.</param>
public sealed record Int8WeightEncoding(bool Unsigned = true, bool ReduceRange = true)
{
    /// <summary>uint8, zero point 128: exact on every CPU.</summary>
    public static Int8WeightEncoding Default { get; } = new();

    /// <summary>The largest magnitude of a weight's quantised value around its zero point.</summary>
    public int Levels => !Unsigned && ReduceRange ? 63 : 127;

    /// <summary>The element type the weights are stored in.</summary>
    public OnnxElementType ElementType => Unsigned ? OnnxElementType.UInt8 : OnnxElementType.Int8;

    /// <summary>The option value that names it.</summary>
    public string Name => Unsigned ? "uint8" : "int8";

    /// <summary>Quantised values (-Levels..Levels around zero) as the stored tensor named <paramref name="name"/>.</summary>
    public TensorProto Tensor(string name, sbyte[] values, long[] dims) => Unsigned
        ? OnnxGraph.Tensor<byte>(name, OnnxElementType.UInt8, values.Select(v => (byte)(v + 128)).ToArray(), dims)
        : OnnxGraph.Tensor<sbyte>(name, OnnxElementType.Int8, values, dims);

    /// <summary>The zero point, <paramref name="count"/> times, as the tensor named <paramref name="name"/>.</summary>
    public TensorProto ZeroPoint(string name, int count, long[] dims) => Unsigned
        ? OnnxGraph.Tensor<byte>(name, OnnxElementType.UInt8, Enumerable.Repeat((byte)128, count).ToArray(), dims)
        : OnnxGraph.Tensor<sbyte>(name, OnnxElementType.Int8, new sbyte[count], dims);
}
