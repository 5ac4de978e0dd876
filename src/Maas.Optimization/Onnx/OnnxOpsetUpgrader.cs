using Maas.Core.Formats.Onnx;
using Maas.Core.Formats.Onnx.Proto;

namespace Maas.Optimization.Onnx;

/// <summary>
/// Raises a model's default-domain opset from 9-12 to 13, the first with per-channel QuantizeLinear/DequantizeLinear:
/// operators whose meaning did not change stay as they are, those whose attributes became inputs (Slice, Squeeze,
/// Unsqueeze, Split, ReduceSum, Clip, Pad, TopK) are rewritten into the new form, and a Softmax over an axis other than
/// the last keeps its old meaning (the input flattened to 2-D at the axis) through Flatten → Softmax → Reshape.
/// </summary>
public static class OnnxOpsetUpgrader
{
    /// <summary>The opset the upgrade writes.</summary>
    public const long Target = 13;

    // Same inputs, attributes and meaning from opset 9 to 13 (some accept more types or negative axes, which only widens them).
    private static readonly HashSet<string> Unchanged = new(StringComparer.Ordinal)
    {
        "Abs", "Add", "And", "ArgMax", "ArgMin", "AveragePool", "BatchNormalization", "Cast", "Ceil", "Concat", "Constant",
        "ConstantOfShape", "Conv", "ConvTranspose", "DepthToSpace", "Div", "Elu", "Equal", "Erf", "Exp", "Expand", "Flatten",
        "Floor", "Gather", "Gemm", "GlobalAveragePool", "GlobalMaxPool", "Greater", "HardSigmoid", "Identity",
        "InstanceNormalization", "LeakyRelu", "Less", "Log", "LRN", "MatMul", "Max", "MaxPool", "Mean", "Min", "Mul", "Neg",
        "Not", "Or", "Pow", "PRelu", "Reciprocal", "ReduceL2", "ReduceMax", "ReduceMean", "ReduceMin", "ReduceProd", "Relu",
        "Reshape", "Selu", "Shape", "Sigmoid", "Sign", "Size", "Softplus", "SpaceToDepth", "Sqrt", "Sub", "Sum", "Tanh",
        "Tile", "Transpose", "Where",
    };

    // Rewritten into their opset-13 form; the number is the opset from which the old form is already the new one.
    private static readonly Dictionary<string, long> Rewritten = new(StringComparer.Ordinal)
    {
        ["Slice"] = 10,
        ["Squeeze"] = 13,
        ["Unsqueeze"] = 13,
        ["Split"] = 13,
        ["ReduceSum"] = 13,
        ["Clip"] = 11,
        ["Pad"] = 11,
        ["TopK"] = 10,
        ["Softmax"] = 13,
        ["LogSoftmax"] = 13,
        ["Hardmax"] = 13,
        ["Dropout"] = 12,
    };

    /// <summary>The operators of the default domain that keep <paramref name="graph"/> from being upgraded (none: it can be).</summary>
    public static IReadOnlyList<string> Blocking(OnnxGraph graph) =>
        graph.Graph.Node.Where(n => n.Domain is "" or "ai.onnx")
            .Select(n => n.OpType)
            .Where(op => !Unchanged.Contains(op) && !Rewritten.ContainsKey(op))
            .Distinct(StringComparer.Ordinal)
            .Order(StringComparer.Ordinal)
            .ToArray();

    /// <summary>Upgrades <paramref name="graph"/> in place to opset 13; returns the nodes rewritten.</summary>
    /// <exception cref="NotSupportedException">The opset is outside 9-12, or an operator cannot be upgraded.</exception>
    public static int Upgrade(OnnxGraph graph)
    {
        var from = graph.Opset;
        if (from is < 9 or >= Target)
        {
            throw new NotSupportedException($"the opset upgrade works from opset 9 to 12, not {from}");
        }

        if (Blocking(graph) is { Count: > 0 } blocking)
        {
            throw new NotSupportedException($"opset {from} operators without a known opset-{Target} form: {string.Join(", ", blocking)}");
        }

        var rewritten = 0;
        var nodes = new List<NodeProto>(graph.Graph.Node.Count);
        foreach (var node in graph.Graph.Node)
        {
            if (node.Domain is not ("" or "ai.onnx") || !Rewritten.TryGetValue(node.OpType, out var since) || from >= since)
            {
                nodes.Add(node);
                continue;
            }

            rewritten++;
            switch (node.OpType)
            {
                case "Slice":
                    var starts = Ints(node, "starts") ?? [];
                    Inputs(graph, node, ("starts", starts), ("ends", Ints(node, "ends") ?? []), ("axes",
                        Ints(node, "axes") ?? Enumerable.Range(0, starts.Length).Select(i => (long)i).ToArray()));
                    break;
                case "Squeeze" or "Unsqueeze" or "Split" or "ReduceSum":
                    var name = node.OpType == "Split" ? "split" : "axes";
                    if (Ints(node, name) is { } values)
                    {
                        // Split takes its sizes second; the others their axes; ReduceSum keeps keepdims as an attribute.
                        Inputs(graph, node, (name, values));
                    }

                    break;
                case "TopK":
                    Inputs(graph, node, ("k", [OnnxGraph.Int(node, "k", 1)]));
                    break;
                case "Clip":
                    var min = OnnxGraph.Float(node, "min", float.MinValue);
                    var max = OnnxGraph.Float(node, "max", float.MaxValue);
                    Remove(node, "min", "max");
                    node.Input.Add(Scalar(graph, node, "min", min));
                    node.Input.Add(Scalar(graph, node, "max", max));
                    break;
                case "Pad":
                    var pads = Ints(node, "pads") ?? [];
                    var value = OnnxGraph.Float(node, "value", 0);
                    Inputs(graph, node, ("pads", pads));
                    Remove(node, "value");
                    node.Input.Add(Scalar(graph, node, "constant_value", value));
                    break;
                case "Dropout":
                    // Inference ignores the ratio; from opset 12 it is an input.
                    Remove(node, "ratio", "is_test");
                    break;
                default:
                    nodes.AddRange(Softmax(graph, node));
                    continue;
            }

            nodes.Add(node);
        }

        graph.Graph.Node.Clear();
        graph.Graph.Node.Add(nodes);
        foreach (var import in graph.Model.OpsetImport.Where(o => o.Domain is "" or "ai.onnx"))
        {
            import.Version = Target;
        }

        graph.Model.IrVersion = Math.Max(graph.Model.IrVersion, 7);
        return rewritten;
    }

    // Before 13 the softmax family flattened its input to 2-D at axis (default 1) and worked on the second dimension;
    // from 13 it works on one axis. The same axis is the last one only when it is -1; otherwise the old meaning is built.
    private static IEnumerable<NodeProto> Softmax(OnnxGraph graph, NodeProto node)
    {
        var axis = OnnxGraph.Int(node, "axis", 1);
        Remove(node, "axis");
        if (axis == -1)
        {
            node.Attribute.Add(OnnxGraph.IntAttribute("axis", -1));
            return [node];
        }

        var input = node.Input[0];
        var output = node.Output[0];
        var shape = graph.NewName(input + "_shape");
        var flat = graph.NewName(input + "_2d");
        var result = graph.NewName(output + "_2d");
        node.Input[0] = flat;
        node.Output[0] = result;
        node.Attribute.Add(OnnxGraph.IntAttribute("axis", -1));
        return
        [
            graph.Node("Shape", [input], [shape]),
            graph.Node("Flatten", [input], [flat], OnnxGraph.IntAttribute("axis", axis)),
            node,
            graph.Node("Reshape", [result, shape], [output]),
        ];
    }

    private static long[]? Ints(NodeProto node, string name) => node.Attribute.FirstOrDefault(a => a.Name == name) is { } a ? a.Ints.ToArray() : null;

    private static void Remove(NodeProto node, params string[] names)
    {
        foreach (var attribute in node.Attribute.Where(a => names.Contains(a.Name)).ToArray())
        {
            node.Attribute.Remove(attribute);
        }
    }

    // Moves integer-list attributes to int64 initializers appended as inputs, in the order given.
    private static void Inputs(OnnxGraph graph, NodeProto node, params (string Name, long[] Values)[] inputs)
    {
        Remove(node, inputs.Select(i => i.Name).ToArray());
        foreach (var (name, values) in inputs)
        {
            var tensor = graph.NewName($"{node.Name}_{name}");
            graph.Graph.Initializer.Add(OnnxGraph.Tensor<long>(tensor, OnnxElementType.Int64, values, [values.Length]));
            node.Input.Add(tensor);
        }
    }

    private static string Scalar(OnnxGraph graph, NodeProto node, string name, float value)
    {
        var tensor = graph.NewName($"{node.Name}_{name}");
        graph.Graph.Initializer.Add(OnnxGraph.Tensor<float>(tensor, OnnxElementType.Float, [value], []));
        return tensor;
    }
}
