using Maas.Core.Formats.Onnx;
using Maas.Core.Formats.Onnx.Proto;

namespace Maas.Optimization.Onnx;

/// <summary>The range an activation took over the calibration rows, as quantisation will use it.</summary>
public sealed record ActivationRange(float Min, float Max);

/// <summary>What the static int8 rewrite changed.</summary>
public sealed record StaticInt8Rewrite(int MatMulsQuantized, int GemmsQuantized, int ConvsQuantized, long WeightsQuantized, int ActivationsQuantized, int QdqNodes, bool PerChannel)
{
    /// <summary>The opset the model was upgraded from to opset 13 for per-channel weights; null when it was not.</summary>
    public long? OpsetUpgradedFrom { get; init; }
}

/// <summary>
/// Static QDQ int8 quantisation: for every MatMul, Gemm and Conv with a constant float weight, the activation input
/// goes through QuantizeLinear → DequantizeLinear (uint8, asymmetric, with the scale and zero point of its calibrated
/// range) and the weight is stored as int8 (symmetric, per output channel from opset 13, per tensor before) read back
/// by DequantizeLinear. The arithmetic between stays float, so any runtime runs it, and ONNX Runtime fuses the pattern
/// into its integer kernels.
/// </summary>
public static class OnnxStaticQuantizer
{
    // Tiny weights (biases folded into MatMuls, 1x1 projections of a few values) are left as they are.
    private const int MinValues = 16;

    /// <summary>The opset QuantizeLinear and DequantizeLinear first appear in.</summary>
    public const long MinOpset = 10;

    /// <summary>The activations (first inputs) of the nodes the rewrite quantises: what calibration must measure.</summary>
    public static IReadOnlyList<string> Activations(OnnxGraph graph) =>
        graph.Graph.Node.Where(n => Eligible(graph, n) is not null).Select(n => n.Input[0]).Distinct(StringComparer.Ordinal).ToArray();

    /// <summary>Rewrites <paramref name="graph"/> in place with the activation <paramref name="ranges"/> from calibration.</summary>
    /// <exception cref="InvalidOperationException">An activation to quantise has no range.</exception>
    public static StaticInt8Rewrite Rewrite(OnnxGraph graph, IReadOnlyDictionary<string, ActivationRange> ranges)
    {
        // Per-channel weights need opset 13; an older model is upgraded when all its operators have a known opset-13
        // form (UltraFace, for one, is opset 9), and otherwise keeps per-tensor weights from opset 10.
        long? upgradedFrom = null;
        var source = graph.Opset;
        if (source is >= 9 and < OnnxOpsetUpgrader.Target && OnnxOpsetUpgrader.Blocking(graph).Count == 0)
        {
            OnnxOpsetUpgrader.Upgrade(graph);
            upgradedFrom = source;
        }
        else if (graph.Opset < MinOpset)
        {
            throw new NotSupportedException($"static int8 quantisation needs QuantizeLinear (opset {MinOpset} or later); this model imports opset {graph.Opset} and cannot be upgraded (operators without a known opset-{OnnxOpsetUpgrader.Target} form: {string.Join(", ", OnnxOpsetUpgrader.Blocking(graph))})");
        }

        var perChannel = graph.Opset >= 13;
        int matmuls = 0, gemms = 0, convs = 0, qdq = 0;
        long weights = 0;
        var dequantized = new Dictionary<string, string>(StringComparer.Ordinal);
        var rewritten = new List<NodeProto>(graph.Graph.Node.Count * 2);
        foreach (var node in graph.Graph.Node.ToArray())
        {
            if (Eligible(graph, node) is not { } weight)
            {
                rewritten.Add(node);
                continue;
            }

            // One Q/DQ pair per activation, placed before its first quantised consumer (so the order stays topological).
            var activation = node.Input[0];
            if (!dequantized.TryGetValue(activation, out var dq))
            {
                var range = ranges.GetValueOrDefault(activation) ?? throw new InvalidOperationException($"calibration measured no range for '{activation}'");
                var (scale, zeroPoint) = Uint8(range);
                var sName = graph.NewName(activation + "_scale");
                var zName = graph.NewName(activation + "_zero_point");
                graph.Graph.Initializer.Add(OnnxGraph.Tensor<float>(sName, OnnxElementType.Float, [scale], []));
                graph.Graph.Initializer.Add(OnnxGraph.Tensor<byte>(zName, OnnxElementType.UInt8, [zeroPoint], []));
                var quantized = graph.NewName(activation + "_quantized");
                dq = graph.NewName(activation + "_dequantized");
                rewritten.Add(graph.Node("QuantizeLinear", [activation, sName, zName], [quantized]));
                rewritten.Add(graph.Node("DequantizeLinear", [quantized, sName, zName], [dq]));
                dequantized[activation] = dq;
                qdq += 2;
            }

            var axis = node.OpType switch
            {
                "Conv" => 0,
                "Gemm" when OnnxGraph.Int(node, "transB", 0) != 0 => 0,
                _ => 1,
            };
            rewritten.Add(Weight(graph, node, weight, perChannel ? axis : null));
            qdq++;
            node.Input[0] = dq;
            rewritten.Add(node);
            weights += OnnxGraph.Count(weight);
            switch (node.OpType)
            {
                case "MatMul":
                    matmuls++;
                    break;
                case "Gemm":
                    gemms++;
                    break;
                default:
                    convs++;
                    break;
            }
        }

        graph.Graph.Node.Clear();
        graph.Graph.Node.Add(rewritten);
        return new StaticInt8Rewrite(matmuls, gemms, convs, weights, dequantized.Count, qdq, perChannel) { OpsetUpgradedFrom = upgradedFrom };
    }

    /// <summary>The uint8 scale and zero point of <paramref name="range"/>, widened to hold 0 exactly (padding and ReLU need it).</summary>
    public static (float Scale, byte ZeroPoint) Uint8(ActivationRange range)
    {
        var min = Math.Min(range.Min, 0f);
        var max = Math.Max(range.Max, 0f);
        var scale = (max - min) / 255f;
        if (!(scale > 0) || !float.IsFinite(scale))
        {
            return (1f, 0);
        }

        return (scale, (byte)Math.Clamp(MathF.Round(-min / scale), 0, 255));
    }

    // The constant float weight of a MatMul (rank 2), Gemm (rank 2, A not transposed) or Conv (rank 3+) read by this
    // node only, or null when the node is not quantised.
    private static TensorProto? Eligible(OnnxGraph graph, NodeProto node)
    {
        if (node.Domain is not ("" or "ai.onnx") || node.Input.Count < 2 || node.Input[0].Length == 0)
        {
            return null;
        }

        var rankOk = node.OpType switch
        {
            "MatMul" => (Func<int, bool>)(r => r == 2),
            "Gemm" when OnnxGraph.Int(node, "transA", 0) == 0 => r => r == 2,
            "Conv" => r => r >= 3,
            _ => null,
        };
        if (rankOk is null || graph.Constant(node.Input[1]) is not { } w || w.DataType != (int)OnnxElementType.Float)
        {
            return null;
        }

        return rankOk(w.Dims.Count) && OnnxGraph.Count(w) >= MinValues && graph.Consumers(w.Name) == 1 ? w : null;
    }

    // The weight as int8 (symmetric: zero point 0), one scale per slice along axis, or one scale when axis is null.
    private static NodeProto Weight(OnnxGraph graph, NodeProto consumer, TensorProto weight, int? axis)
    {
        var values = OnnxGraph.Floats(weight);
        var dims = weight.Dims.ToArray();
        var channels = axis is { } a ? (int)dims[a] : 1;
        var inner = axis is { } b ? dims.Skip(b + 1).Aggregate(1L, (x, d) => x * d) : values.Length;
        var scales = new float[channels];
        int Channel(long i) => axis is null ? 0 : (int)(i / inner % channels);
        for (long i = 0; i < values.Length; i++)
        {
            var c = Channel(i);
            scales[c] = Math.Max(scales[c], Math.Abs(values[i]));
        }

        for (var c = 0; c < channels; c++)
        {
            scales[c] = scales[c] > 0 ? scales[c] / 127f : 1f;
        }

        var quantized = new sbyte[values.Length];
        for (long i = 0; i < values.Length; i++)
        {
            quantized[i] = (sbyte)Math.Clamp(MathF.Round(values[i] / scales[Channel(i)]), -127, 127);
        }

        graph.Graph.Initializer.Remove(weight);
        var qName = graph.NewName(weight.Name + "_int8");
        var sName = graph.NewName(weight.Name + "_scale");
        var zName = graph.NewName(weight.Name + "_zero_point");
        long[] scaleDims = axis is null ? [] : [channels];
        graph.Graph.Initializer.Add(OnnxGraph.Tensor<sbyte>(qName, OnnxElementType.Int8, quantized, dims));
        graph.Graph.Initializer.Add(OnnxGraph.Tensor<float>(sName, OnnxElementType.Float, scales, scaleDims));
        graph.Graph.Initializer.Add(OnnxGraph.Tensor<sbyte>(zName, OnnxElementType.Int8, new sbyte[channels], scaleDims));
        var dequantized = graph.NewName(weight.Name + "_dequantized");
        consumer.Input[1] = dequantized;
        return axis is { } x
            ? graph.Node("DequantizeLinear", [qName, sName, zName], [dequantized], OnnxGraph.IntAttribute("axis", x))
            : graph.Node("DequantizeLinear", [qName, sName, zName], [dequantized]);
    }
}
