using Maas.Core.Formats.Onnx;
using Maas.Core.Formats.Onnx.Proto;

namespace Maas.Optimization.Onnx;

/// <summary>
/// Dynamic int8 quantisation: MatMul and Gemm weights become 8-bit per output column (symmetric: zero point 128 as
/// uint8, the default, or 0 as int8; see <see cref="Int8WeightEncoding"/>) and their activations are quantised at run time (DynamicQuantizeLinear → MatMulInteger → Cast → Mul by
/// both scales); Conv weights (and MatMul weights below opset 11, which lacks DynamicQuantizeLinear) become int8 per output channel
/// read back through Cast and Mul by their scales: weight-only, valid in every opset, folded by ONNX Runtime at load.
/// </summary>
public static class OnnxInt8Quantizer
{
    // Tiny weights (biases folded into MatMuls, 1x1 projections of a few values) are left as they are.
    private const int MinValues = 16;

    /// <summary>
    /// Rewrites <paramref name="graph"/> in place; the weights MatMulInteger multiplies are stored as
    /// <paramref name="encoding"/> says (default: <see cref="Int8WeightEncoding.Default"/>); <paramref name="steps"/> is checked at each node.
    /// </summary>
    public static Int8Rewrite Rewrite(OnnxGraph graph, Int8WeightEncoding? encoding = null, RewriteSteps? steps = null)
    {
        steps ??= RewriteSteps.None;
        var levels = encoding ?? Int8WeightEncoding.Default;
        int matmuls = 0, gemms = 0, convs = 0, weightOnly = 0;
        var dynamic = graph.Opset >= 11;
        long weights = 0;
        var skipped = new List<string>();
        var nodes = graph.Graph.Node.ToArray();
        var rewritten = new List<NodeProto>(nodes.Length);
        foreach (var node in nodes)
        {
            steps.Step(nameof(OnnxInt8Quantizer));
            if (node.Domain is not ("" or "ai.onnx"))
            {
                rewritten.Add(node);
                continue;
            }

            switch (node.OpType)
            {
                case "MatMul" when Weight(graph, node, 1, rank: 2) is { } w:
                    if (!dynamic)
                    {
                        rewritten.AddRange(WeightOnly(graph, node, w, axis: 1));
                        rewritten.Add(node);
                        weightOnly++;
                    }
                    else
                    {
                        rewritten.AddRange(MatMul(graph, node.Input[0], w, transposed: false, node.Output[0], bias: null, levels));
                    }

                    matmuls++;
                    weights += OnnxGraph.Count(w);
                    break;
                case "Gemm" when Weight(graph, node, 1, rank: 2) is { } w:
                    if (!dynamic || OnnxGraph.Int(node, "transA", 0) != 0 || OnnxGraph.Float(node, "alpha", 1) != 1 || OnnxGraph.Float(node, "beta", 1) != 1)
                    {
                        // Weight-only keeps the Gemm and its attributes as they are.
                        rewritten.AddRange(WeightOnly(graph, node, w, axis: OnnxGraph.Int(node, "transB", 0) != 0 ? 0 : 1));
                        rewritten.Add(node);
                        gemms++;
                        weightOnly++;
                        weights += OnnxGraph.Count(w);
                        break;
                    }

                    rewritten.AddRange(MatMul(graph, node.Input[0], w, OnnxGraph.Int(node, "transB", 0) != 0, node.Output[0],
                        node.Input.Count > 2 && node.Input[2].Length > 0 ? node.Input[2] : null, levels));
                    gemms++;
                    weights += OnnxGraph.Count(w);
                    break;
                case "Conv" when Weight(graph, node, 1, rank: 0) is { } w:
                    rewritten.AddRange(WeightOnly(graph, node, w, axis: 0));
                    rewritten.Add(node);
                    convs++;
                    weightOnly++;
                    weights += OnnxGraph.Count(w);
                    break;
                default:
                    if (node.OpType is "MatMul" or "Gemm" or "Conv" && LeftAlone(graph, node) is { } why)
                    {
                        skipped.Add(why);
                    }

                    rewritten.Add(node);
                    break;
            }
        }

        graph.Graph.Node.Clear();
        graph.Graph.Node.Add(rewritten);
        return new Int8Rewrite(matmuls, gemms, convs, weightOnly, weights, skipped);
    }

    // A float constant read by this node only (shared weights stay float), of the given rank (0: any of 3 or more).
    // Why a node with a constant float weight keeps it as it is (the report's "skipped"); null when its weight is not constant.
    private static string? LeftAlone(OnnxGraph graph, NodeProto node)
    {
        if (node.Input.Count <= 1 || graph.Constant(node.Input[1]) is not { } w || w.DataType != (int)OnnxElementType.Float)
        {
            return null;
        }

        var name = $"{node.OpType} '{(node.Name.Length > 0 ? node.Name : node.Output[0])}'";
        var count = OnnxGraph.Count(w);
        return count < MinValues ? $"{name}: its weight '{w.Name}' has {count} values, fewer than {MinValues}"
            : graph.Consumers(w.Name) > 1 ? $"{name}: its weight '{w.Name}' is also used elsewhere (by another node or as a graph output)"
            : $"{name}: its weight '{w.Name}' has {w.Dims.Count} dimensions";
    }

    private static TensorProto? Weight(OnnxGraph graph, NodeProto node, int input, int rank)
    {
        if (node.Input.Count <= input || graph.Constant(node.Input[input]) is not { } w || w.DataType != (int)OnnxElementType.Float)
        {
            return null;
        }

        var rankOk = rank == 0 ? w.Dims.Count >= 3 : w.Dims.Count == rank;
        return rankOk && OnnxGraph.Count(w) >= MinValues && graph.Consumers(w.Name) == 1 ? w : null;
    }

    private static IEnumerable<NodeProto> MatMul(OnnxGraph graph, string activation, TensorProto weight, bool transposed, string output, string? bias, Int8WeightEncoding encoding)
    {
        var levels = encoding.Levels;
        var values = OnnxGraph.Floats(weight);
        long k = transposed ? weight.Dims[1] : weight.Dims[0];
        long n = transposed ? weight.Dims[0] : weight.Dims[1];
        var scales = new float[n];
        for (var c = 0; c < n; c++)
        {
            var max = 0f;
            for (var r = 0; r < k; r++)
            {
                max = Math.Max(max, Math.Abs(values[transposed ? (c * k) + r : (r * n) + c]));
            }

            scales[c] = max > 0 ? max / levels : 1f;
        }

        // Stored [K, N] whatever the source layout, as MatMulInteger wants.
        var quantized = new sbyte[k * n];
        for (var r = 0; r < k; r++)
        {
            for (var c = 0; c < n; c++)
            {
                var v = values[transposed ? (c * k) + r : (r * n) + c];
                quantized[(r * n) + c] = (sbyte)Math.Clamp(MathF.Round(v / scales[c]), -levels, levels);
            }
        }

        graph.Graph.Initializer.Remove(weight);
        var qName = graph.NewName(weight.Name + "_" + encoding.Name);
        var sName = graph.NewName(weight.Name + "_scale");
        graph.Graph.Initializer.Add(encoding.Tensor(qName, quantized, [k, n]));
        graph.Graph.Initializer.Add(OnnxGraph.Tensor<float>(sName, OnnxElementType.Float, scales, [n]));
        var matMulInputs = new List<string> { "aq", qName, "azero" };
        if (encoding.Unsigned)
        {
            var zName = graph.NewName(weight.Name + "_zero_point");
            graph.Graph.Initializer.Add(encoding.ZeroPoint(zName, 1, []));
            matMulInputs.Add(zName);
        }

        var aq = graph.NewName(activation + "_quantized");
        var aScale = graph.NewName(activation + "_scale");
        var aZero = graph.NewName(activation + "_zero_point");
        var product = graph.NewName(output + "_int32");
        var productFloat = graph.NewName(output + "_unscaled");
        var scale = graph.NewName(output + "_scale");
        var scaled = bias is null ? output : graph.NewName(output + "_nobias");
        yield return graph.Node("DynamicQuantizeLinear", [activation], [aq, aScale, aZero]);
        matMulInputs[0] = aq;
        matMulInputs[2] = aZero;
        yield return graph.Node("MatMulInteger", [.. matMulInputs], [product]);
        yield return graph.Node("Cast", [product], [productFloat], OnnxGraph.IntAttribute("to", (long)OnnxElementType.Float));
        yield return graph.Node("Mul", [aScale, sName], [scale]);
        yield return graph.Node("Mul", [productFloat, scale], [scaled]);
        if (bias is not null)
        {
            yield return graph.Node("Add", [scaled, bias], [output]);
        }
    }

    // Int8 values with one scale per slice along axis 0 (Conv output channels, transposed Gemm rows) or axis 1 (MatMul
    // columns), read back by Cast to float and Mul by the scales shaped to broadcast along that axis.
    private static NodeProto[] WeightOnly(OnnxGraph graph, NodeProto consumer, TensorProto weight, int axis)
    {
        var values = OnnxGraph.Floats(weight);
        var dims = weight.Dims.ToArray();
        var channels = dims[axis];
        var inner = dims.Skip(axis + 1).Aggregate(1L, (a, d) => a * d);
        long Channel(long i) => i / inner % channels;
        var maxima = new float[channels];
        for (long i = 0; i < values.Length; i++)
        {
            maxima[Channel(i)] = Math.Max(maxima[Channel(i)], Math.Abs(values[i]));
        }

        var scales = maxima.Select(m => m > 0 ? m / 127f : 1f).ToArray();
        var quantized = new sbyte[values.Length];
        for (long i = 0; i < values.Length; i++)
        {
            quantized[i] = (sbyte)Math.Clamp(MathF.Round(values[i] / scales[Channel(i)]), -127, 127);
        }

        graph.Graph.Initializer.Remove(weight);
        var qName = graph.NewName(weight.Name + "_int8");
        var sName = graph.NewName(weight.Name + "_scale");
        var widened = graph.NewName(weight.Name + "_widened");
        var scaleShape = dims.Select((d, i) => i == axis ? d : 1L).ToArray();
        graph.Graph.Initializer.Add(OnnxGraph.Tensor<sbyte>(qName, OnnxElementType.Int8, quantized, dims));
        graph.Graph.Initializer.Add(OnnxGraph.Tensor<float>(sName, OnnxElementType.Float, scales, scaleShape));
        var dequantized = graph.NewName(weight.Name + "_dequantized");
        consumer.Input[1] = dequantized;
        return
        [
            graph.Node("Cast", [qName], [widened], OnnxGraph.IntAttribute("to", (long)OnnxElementType.Float)),
            graph.Node("Mul", [widened, sName], [dequantized]),
        ];
    }
}
