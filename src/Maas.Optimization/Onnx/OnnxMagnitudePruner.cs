using Maas.Core.Formats.Onnx;

namespace Maas.Optimization.Onnx;

/// <summary>
/// Unstructured magnitude pruning: in every MatMul, Gemm and Conv weight, the smallest-magnitude values are set to zero
/// until the tensor reaches the target sparsity. Dense CPU kernels do not get faster; the compressed file gets smaller.
/// </summary>
public static class OnnxMagnitudePruner
{
    /// <summary>
    /// Prunes <paramref name="graph"/> in place to <paramref name="sparsity"/> (0 to 1) per weight tensor;
    /// <paramref name="steps"/> is checked at each weight.
    /// </summary>
    public static PruneRewrite Rewrite(OnnxGraph graph, double sparsity, RewriteSteps? steps = null)
    {
        steps ??= RewriteSteps.None;
        var weightNames = graph.Graph.Node
            .Where(n => n.Domain is "" or "ai.onnx" && n.OpType is "MatMul" or "Gemm" or "Conv" && n.Input.Count > 1)
            .Select(n => n.Input[1])
            .ToHashSet(StringComparer.Ordinal);
        int tensors = 0;
        long weights = 0, zeroed = 0;
        foreach (var name in weightNames)
        {
            steps.Step(nameof(OnnxMagnitudePruner));
            if (graph.Constant(name) is not { } tensor || tensor.DataType != (int)OnnxElementType.Float || tensor.Dims.Count < 2)
            {
                continue;
            }

            var values = OnnxGraph.Floats(tensor);
            var target = (int)Math.Floor(values.Length * sparsity);
            var order = Enumerable.Range(0, values.Length).OrderBy(i => Math.Abs(values[i])).Take(target);
            foreach (var i in order)
            {
                if (values[i] != 0)
                {
                    zeroed++;
                }

                values[i] = 0;
            }

            var replacement = OnnxGraph.Tensor<float>(tensor.Name, OnnxElementType.Float, values, tensor.Dims);
            graph.Graph.Initializer[graph.Graph.Initializer.IndexOf(tensor)] = replacement;
            tensors++;
            weights += values.Length;
        }

        return new PruneRewrite(tensors, weights, zeroed);
    }
}
