using Maas.Core.Formats.Onnx;
using Maas.Core.Formats.Onnx.Proto;

namespace Maas.Optimization.Onnx;

/// <summary>What structured pruning changed.</summary>
public sealed record StructuredPruneRewrite(int LayersPruned, long UnitsBefore, long UnitsRemoved);

/// <summary>
/// Structured pruning of the hidden units of dense layers: in every MatMul [+ Add bias] → elementwise activation →
/// MatMul chain with constant weights, the units whose weights carry least (the product of the norms of their column
/// in the first weight and their row in the second) are removed, so both matrices shrink and the model gets faster.
/// </summary>
public static class OnnxStructuredPruner
{
    // Activations that work on each unit alone, so removing a unit removes exactly its column and row.
    private static readonly HashSet<string> Elementwise = new(StringComparer.Ordinal) { "Relu", "LeakyRelu", "Sigmoid", "Tanh", "Elu", "Selu", "Softplus", "Gelu", "HardSigmoid" };

    /// <summary>Removes the share <paramref name="ratio"/> (0 to 1) of hidden units of every such chain of <paramref name="graph"/>.</summary>
    public static StructuredPruneRewrite Rewrite(OnnxGraph graph, double ratio)
    {
        int layers = 0;
        long before = 0, removed = 0;
        var nodes = graph.Graph.Node;
        NodeProto? Only(string value)
        {
            var readers = nodes.Where(n => n.Input.Contains(value)).ToArray();
            return readers.Length == 1 && graph.Consumers(value) == 1 && graph.Graph.Output.All(o => o.Name != value) ? readers[0] : null;
        }

        foreach (var first in nodes.Where(n => n.OpType == "MatMul" && n.Domain is "" or "ai.onnx").ToArray())
        {
            if (graph.Constant(first.Input[1]) is not { } w1 || w1.DataType != (int)OnnxElementType.Float || w1.Dims.Count != 2 || graph.Consumers(w1.Name) != 1)
            {
                continue;
            }

            var next = Only(first.Output[0]);
            TensorProto? bias = null;
            if (next is { OpType: "Add" })
            {
                var other = next.Input[0] == first.Output[0] ? next.Input[1] : next.Input[0];
                bias = graph.Constant(other);
                if (bias is null || bias.DataType != (int)OnnxElementType.Float || OnnxGraph.Count(bias) != w1.Dims[1] || bias.Dims.Count != 1 || graph.Consumers(bias.Name) != 1)
                {
                    continue;
                }

                next = Only(next.Output[0]);
            }

            if (next is null || !Elementwise.Contains(next.OpType) || Only(next.Output[0]) is not { OpType: "MatMul" } second || second.Input[0] != next.Output[0]
                || graph.Constant(second.Input[1]) is not { } w2 || w2.DataType != (int)OnnxElementType.Float || w2.Dims.Count != 2 || w2.Dims[0] != w1.Dims[1] || graph.Consumers(w2.Name) != 1)
            {
                continue;
            }

            long k = w1.Dims[0], h = w1.Dims[1], n = w2.Dims[1];
            var drop = (int)Math.Floor(h * ratio);
            if (drop < 1 || drop >= h)
            {
                continue;
            }

            var a = OnnxGraph.Floats(w1);
            var b = OnnxGraph.Floats(w2);
            var score = new double[h];
            for (var j = 0; j < h; j++)
            {
                double c = 0, r = 0;
                for (var i = 0; i < k; i++)
                {
                    c += (double)a[(i * h) + j] * a[(i * h) + j];
                }

                for (var i = 0; i < n; i++)
                {
                    r += (double)b[(j * n) + i] * b[(j * n) + i];
                }

                score[j] = Math.Sqrt(c) * Math.Sqrt(r);
            }

            var keep = Enumerable.Range(0, (int)h).OrderByDescending(j => score[j]).Take((int)h - drop).Order().ToArray();
            var kept = keep.Length;
            var newW1 = new float[k * kept];
            for (var i = 0; i < k; i++)
            {
                for (var j = 0; j < kept; j++)
                {
                    newW1[(i * kept) + j] = a[(i * h) + keep[j]];
                }
            }

            var newW2 = new float[kept * n];
            for (var j = 0; j < kept; j++)
            {
                Array.Copy(b, keep[j] * n, newW2, j * n, n);
            }

            Replace(graph, w1, OnnxGraph.Tensor<float>(w1.Name, OnnxElementType.Float, newW1, [k, kept]));
            Replace(graph, w2, OnnxGraph.Tensor<float>(w2.Name, OnnxElementType.Float, newW2, [kept, n]));
            if (bias is not null)
            {
                var values = OnnxGraph.Floats(bias);
                Replace(graph, bias, OnnxGraph.Tensor<float>(bias.Name, OnnxElementType.Float, keep.Select(j => values[j]).ToArray(), [kept]));
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

    private static void Replace(OnnxGraph graph, TensorProto old, TensorProto replacement) =>
        graph.Graph.Initializer[graph.Graph.Initializer.IndexOf(old)] = replacement;
}
