using Maas.Core.Formats.Onnx;
using Maas.Core.Formats.Onnx.Proto;

namespace Maas.Optimization.Onnx;

/// <summary>
/// Static QDQ int8 quantisation: for every MatMul, Gemm and Conv with a constant float weight, the activation input
/// goes through QuantizeLinear → DequantizeLinear (uint8, asymmetric, with the scale and zero point of its calibrated
/// range) and the weight is stored as int8 (symmetric, per output channel from opset 13, per tensor before) read back
/// by DequantizeLinear. The arithmetic between stays float, so any runtime runs it, and ONNX Runtime fuses the pattern
/// into its integer kernels. ONNX Runtime makes a Conv integer (QLinearConv) only when every input comes from a
/// DequantizeLinear and its output goes to a QuantizeLinear, so Conv biases are stored int32 and Conv outputs are
/// quantised too: after the ReLU that follows, where one does (its range starts at 0, so ONNX Runtime drops the ReLU),
/// with BatchNormalizations folded into the Conv first.
/// </summary>
public static class OnnxStaticQuantizer
{
    // Tiny weights (biases folded into MatMuls, 1x1 projections of a few values) are left as they are.
    private const int MinValues = 16;

    /// <summary>The opset QuantizeLinear and DequantizeLinear first appear in.</summary>
    public const long MinOpset = 10;

    /// <summary>
    /// The values the rewrite quantises, which calibration must measure: the activations (first inputs) of the nodes it
    /// quantises and the outputs of its Convs (the names they have in the source, batch norms not yet folded).
    /// </summary>
    public static IReadOnlyList<string> Activations(OnnxGraph graph)
    {
        var eligible = graph.Graph.Node.Where(n => Eligible(graph, n) is not null).ToArray();
        return eligible.Select(n => n.Input[0]).Concat(eligible.Select(n => ConvOutput(graph, n)).OfType<string>()).Distinct(StringComparer.Ordinal).ToArray();
    }

    // The value a quantised Conv's output is quantised at: its output, or the BatchNormalization's that will be folded
    // into it, or the ReLU's after either when that ReLU alone reads it; null for other nodes and for graph outputs.
    private static string? ConvOutput(OnnxGraph graph, NodeProto node)
    {
        if (node.OpType != "Conv" || node.Output.Count != 1)
        {
            return null;
        }

        var value = OnnxBatchNormFolder.Foldable(graph, node) is { } bn ? bn.Output[0] : node.Output[0];
        if (graph.Consumers(value) == 1 && graph.Graph.Output.All(o => o.Name != value)
            && graph.Graph.Node.FirstOrDefault(n => n.Input.Contains(value)) is { OpType: "Relu", Domain: "" or "ai.onnx" } relu)
        {
            value = relu.Output[0];
        }

        return graph.Graph.Output.Any(o => o.Name == value) ? null : value;
    }

    /// <summary>
    /// Rewrites <paramref name="graph"/> in place with the activation <paramref name="ranges"/> from calibration; weights
    /// are stored as <paramref name="encoding"/> says (default: <see cref="Int8WeightEncoding.Default"/>).
    /// </summary>
    /// <exception cref="InvalidOperationException">An activation to quantise has no range.</exception>
    public static StaticInt8Rewrite Rewrite(OnnxGraph graph, IReadOnlyDictionary<string, ActivationRange> ranges, Int8WeightEncoding? encoding = null, RewriteSteps? steps = null)
    {
        steps ??= RewriteSteps.None;
        var levels = encoding ?? Int8WeightEncoding.Default;
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
            throw new NotSupportedException($"static int8 quantisation needs QuantizeLinear (opset {MinOpset} or later); this model imports opset {graph.Opset} and cannot be " +
                $"upgraded (operators without a known opset-{OnnxOpsetUpgrader.Target} form: {string.Join(", ", OnnxOpsetUpgrader.Blocking(graph))})");
        }

        var folded = OnnxBatchNormFolder.Fold(graph, steps);
        var perChannel = graph.Opset >= 13;
        var eligible = graph.Graph.Node.Select(n => (Node: n, Weight: Eligible(graph, n))).Where(e => e.Weight is not null)
            .ToDictionary(e => e.Node, e => e.Weight!, new ReferenceComparer<NodeProto>()); // nodes compare by value and change below
        var inputs = eligible.Keys.Select(n => n.Input[0]).ToHashSet(StringComparer.Ordinal);
        var outputs = eligible.Keys.Select(n => ConvOutput(graph, n)).OfType<string>().ToHashSet(StringComparer.Ordinal);
        var quantized = inputs.Concat(outputs).ToHashSet(StringComparer.Ordinal);

        // One Q → DQ pair per value, right after the node that makes it (graph inputs: first); every reader takes the
        // DQ's output, so a Conv whose output is quantised feeds nothing but the QuantizeLinear.
        var scales = new Dictionary<string, float>(StringComparer.Ordinal);
        var dequantized = new Dictionary<string, string>(StringComparer.Ordinal);
        var rewritten = new List<NodeProto>(graph.Graph.Node.Count * 3);
        int matmuls = 0, gemms = 0, convs = 0, qdq = 0, biases = 0;
        long weights = 0;
        void Pair(string value)
        {
            var range = ranges.GetValueOrDefault(value) ?? throw new InvalidOperationException($"calibration measured no range for '{value}'");
            var (scale, zeroPoint) = Uint8(range);
            var sName = graph.NewName(value + "_scale");
            var zName = graph.NewName(value + "_zero_point");
            graph.Graph.Initializer.Add(OnnxGraph.Tensor<float>(sName, OnnxElementType.Float, [scale], []));
            graph.Graph.Initializer.Add(OnnxGraph.Tensor<byte>(zName, OnnxElementType.UInt8, [zeroPoint], []));
            var q = graph.NewName(value + "_quantized");
            var dq = graph.NewName(value + "_dequantized");
            rewritten.Add(graph.Node("QuantizeLinear", [value, sName, zName], [q]));
            rewritten.Add(graph.Node("DequantizeLinear", [q, sName, zName], [dq]));
            dequantized[value] = dq;
            scales[value] = scale;
            qdq += 2;
        }

        var produced = graph.Graph.Node.SelectMany(n => n.Output).ToHashSet(StringComparer.Ordinal);
        foreach (var value in quantized.Where(v => !produced.Contains(v)).Order(StringComparer.Ordinal))
        {
            Pair(value);
        }

        foreach (var node in graph.Graph.Node.ToArray())
        {
            steps.Step(nameof(OnnxStaticQuantizer));
            var activation = node.Input.Count > 0 ? node.Input[0] : "";
            for (var i = 0; i < node.Input.Count; i++)
            {
                if (dequantized.TryGetValue(node.Input[i], out var dq))
                {
                    node.Input[i] = dq;
                }
            }

            if (eligible.TryGetValue(node, out var weight))
            {
                var axis = node.OpType switch
                {
                    "Conv" => 0,
                    "Gemm" when OnnxGraph.Int(node, "transB", 0) != 0 => 0,
                    _ => 1,
                };
                var (dequantize, weightScales) = Weight(graph, node, weight, perChannel ? axis : null, levels);
                rewritten.Add(dequantize);
                qdq++;
                if (node.OpType == "Conv" && Bias(graph, node, scales[activation], weightScales) is { } bias)
                {
                    rewritten.Add(bias);
                    qdq++;
                    biases++;
                }

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

            rewritten.Add(node);
            foreach (var output in node.Output.Where(quantized.Contains))
            {
                Pair(output);
            }
        }

        graph.Graph.Node.Clear();
        graph.Graph.Node.Add(rewritten);
        return new StaticInt8Rewrite(matmuls, gemms, convs, weights, dequantized.Count, qdq, perChannel)
        {
            OpsetUpgradedFrom = upgradedFrom,
            BatchNormsFolded = folded,
            ConvOutputsQuantized = outputs.Count,
            BiasesQuantized = biases,
        };
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

    // A Conv's constant float bias as int32 in the scale of its input times its weight (per output channel, zero point
    // 0), read back by DequantizeLinear: the form ONNX Runtime needs to run the Conv as QLinearConv. Null without a bias.
    private static NodeProto? Bias(OnnxGraph graph, NodeProto conv, float inputScale, float[] weightScales)
    {
        if (conv.Input.Count < 3 || graph.Constant(conv.Input[2]) is not { } bias || bias.DataType != (int)OnnxElementType.Float || bias.Dims.Count != 1 ||
            graph.Consumers(bias.Name) != 1)
        {
            return null;
        }

        var values = OnnxGraph.Floats(bias);
        var perChannel = weightScales.Length > 1;
        if (perChannel && weightScales.Length != values.Length)
        {
            return null;
        }

        var scales = values.Select((_, c) => inputScale * weightScales[perChannel ? c : 0]).ToArray();
        var quantized = values.Select((v, c) => (int)Math.Clamp(Math.Round((double)v / scales[c]), int.MinValue + 1, int.MaxValue)).ToArray();
        graph.Graph.Initializer.Remove(bias);
        var qName = graph.NewName(bias.Name + "_int32");
        var sName = graph.NewName(bias.Name + "_scale");
        graph.Graph.Initializer.Add(OnnxGraph.Tensor<int>(qName, OnnxElementType.Int32, quantized, [values.Length]));
        graph.Graph.Initializer.Add(perChannel
            ? OnnxGraph.Tensor<float>(sName, OnnxElementType.Float, scales, [values.Length])
            : OnnxGraph.Tensor<float>(sName, OnnxElementType.Float, [scales[0]], []));
        var dequantized = graph.NewName(bias.Name + "_dequantized");
        conv.Input[2] = dequantized;
        return perChannel
            ? graph.Node("DequantizeLinear", [qName, sName], [dequantized], OnnxGraph.IntAttribute("axis", 0))
            : graph.Node("DequantizeLinear", [qName, sName], [dequantized]);
    }

    // The weight quantised symmetrically (zero point 0 as int8, 128 as uint8), one scale per slice along axis, or one scale when axis is null;
    // returns the DequantizeLinear that reads it back and the scales.
    private static (NodeProto Dequantize, float[] Scales) Weight(OnnxGraph graph, NodeProto consumer, TensorProto weight, int? axis, Int8WeightEncoding encoding)
    {
        var levels = encoding.Levels;
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
            scales[c] = scales[c] > 0 ? scales[c] / levels : 1f;
        }

        var quantized = new sbyte[values.Length];
        for (long i = 0; i < values.Length; i++)
        {
            quantized[i] = (sbyte)Math.Clamp(MathF.Round(values[i] / scales[Channel(i)]), -levels, levels);
        }

        graph.Graph.Initializer.Remove(weight);
        var qName = graph.NewName(weight.Name + "_" + encoding.Name);
        var sName = graph.NewName(weight.Name + "_scale");
        var zName = graph.NewName(weight.Name + "_zero_point");
        long[] scaleDims = axis is null ? [] : [channels];
        graph.Graph.Initializer.Add(encoding.Tensor(qName, quantized, dims));
        graph.Graph.Initializer.Add(OnnxGraph.Tensor<float>(sName, OnnxElementType.Float, scales, scaleDims));
        graph.Graph.Initializer.Add(encoding.ZeroPoint(zName, channels, scaleDims));
        var dequantized = graph.NewName(weight.Name + "_dequantized");
        consumer.Input[1] = dequantized;
        return (axis is { } x
            ? graph.Node("DequantizeLinear", [qName, sName, zName], [dequantized], OnnxGraph.IntAttribute("axis", x))
            : graph.Node("DequantizeLinear", [qName, sName, zName], [dequantized]), scales);
    }
}
