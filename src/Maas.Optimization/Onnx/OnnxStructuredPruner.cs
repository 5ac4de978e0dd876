using Maas.Core.Formats.Onnx;
using Maas.Core.Formats.Onnx.Proto;

namespace Maas.Optimization.Onnx;

/// <summary>
/// Structured pruning of the hidden units of dense layers: in every MatMul or Gemm [+ bias] → elementwise activation →
/// MatMul or Gemm chain with constant weights, the units whose weights carry least (the product of the norms of their
/// weights in the first layer and in the second) are removed, so both matrices shrink and the model gets faster.
/// The activation may be GELU written out in nodes (<see cref="FineTuning.OnnxGeluBlock"/>), and Identity or an
/// inference Dropout may stand before or after it (the ggml trainer exports dropout as Identity), since each of
/// these acts on every unit alone too.
/// </summary>
public static class OnnxStructuredPruner
{
    // Activations that work on each unit alone, so removing a unit removes exactly its column and row.
    private static readonly HashSet<string> Elementwise = new(StringComparer.Ordinal) { "Relu", "LeakyRelu", "Sigmoid", "Tanh", "Elu", "Selu", "Softplus", "Gelu", "HardSigmoid" };

    /// <summary>Removes the share <paramref name="ratio"/> (0 to 1) of hidden units of every such chain of <paramref name="graph"/>.</summary>
    public static StructuredPruneRewrite Rewrite(OnnxGraph graph, double ratio, RewriteSteps? steps = null)
    {
        steps ??= RewriteSteps.None;
        int layers = 0;
        long before = 0, removed = 0;
        var nodes = graph.Graph.Node;
        NodeProto? Only(string value)
        {
            var readers = nodes.Where(n => n.Input.Contains(value)).ToArray();
            return readers.Length == 1 && graph.Consumers(value) == 1 && graph.Graph.Output.All(o => o.Name != value) ? readers[0] : null;
        }

        foreach (var first in nodes.Where(Dense).ToArray())
        {
            steps.Step(nameof(OnnxStructuredPruner));
            if (graph.Constant(first.Input[1]) is not { } w1 || w1.DataType != (int)OnnxElementType.Float || w1.Dims.Count != 2 || graph.Consumers(w1.Name) != 1)
            {
                continue;
            }

            // A Gemm with transB holds its weight as [units, inputs]; MatMul and plain Gemm as [inputs, units].
            var firstByRows = Transposed(first);
            var h = w1.Dims[firstByRows ? 0 : 1];
            var hidden = first.Output[0];
            var next = Only(hidden);
            TensorProto? bias = null;
            if (first.OpType == "Gemm" && first.Input.Count > 2 && first.Input[2].Length > 0)
            {
                bias = graph.Constant(first.Input[2]);
                if (bias is null || !Bias(graph, bias, h))
                {
                    continue;
                }
            }
            else if (next is { OpType: "Add" })
            {
                var other = next.Input[0] == first.Output[0] ? next.Input[1] : next.Input[0];
                bias = graph.Constant(other);
                if (bias is null || !Bias(graph, bias, h))
                {
                    continue;
                }

                hidden = next.Output[0];
            }

            if (Activated(graph, hidden) is not { } activated || Only(activated) is not { } second || !Dense(second) || second.Input[0] != activated
                || graph.Constant(second.Input[1]) is not { } w2 || w2.DataType != (int)OnnxElementType.Float || w2.Dims.Count != 2 || graph.Consumers(w2.Name) != 1)
            {
                continue;
            }

            var secondByRows = !Transposed(second);
            if (w2.Dims[secondByRows ? 0 : 1] != h)
            {
                continue;
            }

            var drop = (int)Math.Floor(h * ratio);
            if (drop < 1 || drop >= h)
            {
                continue;
            }

            var a = OnnxGraph.Floats(w1);
            var b = OnnxGraph.Floats(w2);
            var (na, nb) = (Norms(a, w1.Dims[0], w1.Dims[1], firstByRows), Norms(b, w2.Dims[0], w2.Dims[1], secondByRows));
            var keep = Enumerable.Range(0, (int)h).OrderByDescending(j => na[j] * nb[j]).Take((int)h - drop).Order().ToArray();
            Replace(graph, w1, Keep(w1, a, keep, firstByRows));
            Replace(graph, w2, Keep(w2, b, keep, secondByRows));
            if (bias is not null)
            {
                var values = OnnxGraph.Floats(bias);
                Replace(graph, bias, OnnxGraph.Tensor<float>(bias.Name, OnnxElementType.Float, keep.Select(j => values[j]).ToArray(), [keep.Length]));
            }

            layers++;
            before += h;
            removed += drop;
        }

        if (layers > 0)
        {
            // Shapes recorded for intermediate values may name the old widths; ONNX Runtime infers them again.
            graph.Graph.ValueInfo.Clear();
        }

        return new StructuredPruneRewrite(layers, before, removed);
    }

    // The value after the steps from a dense layer's output to the next dense layer that act on each unit alone: at
    // least one activation (an elementwise operator or a written-out GELU), and any Identity or inference Dropout;
    // null when there is no activation or a step's values are read elsewhere.
    private static string? Activated(OnnxGraph graph, string value)
    {
        var nodes = graph.Graph.Node;
        var activations = 0;
        for (var step = 0; step < 8 && graph.Graph.Output.All(o => o.Name != value); step++)
        {
            var readers = Enumerable.Range(0, nodes.Count).Where(i => nodes[i].Input.Contains(value)).ToArray();
            if (readers.Length == 0)
            {
                break;
            }

            // A written-out GELU reads its input several times; every reading must be one of the block's nodes.
            var start = readers[0];
            while (start > 0 && nodes[start - 1].OpType == "Constant")
            {
                start--;
            }

            if (FineTuning.OnnxGeluBlock.Find(graph, start, value) is { } gelu && readers[^1] <= gelu.Last
                && graph.Consumers(value) == readers.Sum(i => nodes[i].Input.Count(input => input == value)))
            {
                (value, activations) = (gelu.Output, activations + 1);
                continue;
            }

            var node = nodes[readers[0]];
            if (readers.Length != 1 || graph.Consumers(value) != 1 || node.Domain is not ("" or "ai.onnx") || node.Input[0] != value)
            {
                break;
            }

            if (Elementwise.Contains(node.OpType) && node.Input.Count == 1)
            {
                (value, activations) = (node.Output[0], activations + 1);
            }
            else if (node.OpType == "Identity" || (node.OpType == "Dropout" && InferenceDropout(graph, node)))
            {
                value = node.Output[0];
            }
            else
            {
                break;
            }
        }

        return activations > 0 ? value : null;
    }

    // A Dropout that is the identity: its mask not read and not in training mode.
    private static bool InferenceDropout(OnnxGraph graph, NodeProto node)
    {
        var mask = node.Output.Count > 1 ? node.Output[1] : "";
        return (mask.Length == 0 || (graph.Consumers(mask) == 0 && graph.Graph.Output.All(o => o.Name != mask)))
            && (node.Input.Count < 3 || node.Input[2].Length == 0 || OnnxGraph.IsConstantFalse(graph.Constant(node.Input[2])))
            && OnnxGraph.Int(node, "is_test", 1) != 0;
    }

    private static bool Dense(NodeProto node) =>
        node.Domain is "" or "ai.onnx" && node.Input.Count >= 2
        && (node.OpType == "MatMul" || (node.OpType == "Gemm" && OnnxGraph.Int(node, "transA", 0) == 0));

    private static bool Transposed(NodeProto node) => node.OpType == "Gemm" && OnnxGraph.Int(node, "transB", 0) != 0;

    private static bool Bias(OnnxGraph graph, TensorProto bias, long units) =>
        bias.DataType == (int)OnnxElementType.Float && bias.Dims.Count == 1 && OnnxGraph.Count(bias) == units && graph.Consumers(bias.Name) == 1;

    // The Euclidean norm of each unit's weights: rows of a [units, other] matrix, or columns of an [other, units] one.
    private static double[] Norms(float[] values, long rows, long columns, bool unitsAreRows)
    {
        var norms = new double[unitsAreRows ? rows : columns];
        for (long r = 0; r < rows; r++)
        {
            for (long c = 0; c < columns; c++)
            {
                var v = (double)values[(r * columns) + c];
                norms[unitsAreRows ? r : c] += v * v;
            }
        }

        return norms.Select(Math.Sqrt).ToArray();
    }

    // The matrix with only the kept units (rows or columns).
    private static TensorProto Keep(TensorProto tensor, float[] values, int[] keep, bool unitsAreRows)
    {
        long rows = tensor.Dims[0], columns = tensor.Dims[1];
        if (unitsAreRows)
        {
            var kept = new float[keep.Length * columns];
            for (var j = 0; j < keep.Length; j++)
            {
                Array.Copy(values, keep[j] * columns, kept, j * columns, columns);
            }

            return OnnxGraph.Tensor<float>(tensor.Name, OnnxElementType.Float, kept, [keep.Length, columns]);
        }

        var narrowed = new float[rows * keep.Length];
        for (long r = 0; r < rows; r++)
        {
            for (var j = 0; j < keep.Length; j++)
            {
                narrowed[(r * keep.Length) + j] = values[(r * columns) + keep[j]];
            }
        }

        return OnnxGraph.Tensor<float>(tensor.Name, OnnxElementType.Float, narrowed, [rows, keep.Length]);
    }

    private static void Replace(OnnxGraph graph, TensorProto old, TensorProto replacement) =>
        graph.Graph.Initializer[graph.Graph.Initializer.IndexOf(old)] = replacement;
}
