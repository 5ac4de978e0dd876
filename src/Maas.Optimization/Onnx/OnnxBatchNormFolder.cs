using Maas.Core.Formats.Onnx;
using Maas.Core.Formats.Onnx.Proto;

namespace Maas.Optimization.Onnx;

/// <summary>
/// Folds a BatchNormalization into the Conv before it: with s = scale / √(var + ε) per output channel, the weight
/// becomes W·s and the bias (b − mean)·s + shift, and the Conv writes the normalisation's output itself. ONNX Runtime
/// does the same at load for float weights, but not once they sit behind a DequantizeLinear, so a rewrite that
/// quantises convolutions folds first.
/// </summary>
public static class OnnxBatchNormFolder
{
    /// <summary>The BatchNormalization that directly and only follows <paramref name="conv"/> and can be folded into it, or null.</summary>
    public static NodeProto? Foldable(OnnxGraph graph, NodeProto conv)
    {
        if (conv.OpType != "Conv" || conv.Domain is not ("" or "ai.onnx") || conv.Input.Count < 2 || conv.Output.Count != 1
            || graph.Constant(conv.Input[1]) is not { } w || w.DataType != (int)OnnxElementType.Float || w.Dims.Count < 3 || graph.Consumers(w.Name) != 1
            || (conv.Input.Count > 2 && conv.Input[2].Length > 0 &&
                (graph.Constant(conv.Input[2]) is not { } b || b.DataType != (int)OnnxElementType.Float || graph.Consumers(b.Name) != 1))
            || graph.Consumers(conv.Output[0]) != 1 || graph.Graph.Output.Any(o => o.Name == conv.Output[0]))
        {
            return null;
        }

        var bn = graph.Graph.Node.FirstOrDefault(n => n.Input.Count > 0 && n.Input[0] == conv.Output[0]);
        if (bn is not { OpType: "BatchNormalization", Domain: "" or "ai.onnx" } || bn.Input.Count != 5 || bn.Output.Count != 1 || OnnxGraph.Int(bn, "training_mode", 0) != 0)
        {
            return null;
        }

        var channels = w.Dims[0];
        for (var i = 1; i < 5; i++)
        {
            if (graph.Constant(bn.Input[i]) is not { } t || t.DataType != (int)OnnxElementType.Float || OnnxGraph.Count(t) != channels)
            {
                return null;
            }
        }

        return bn;
    }

    /// <summary>Folds every foldable BatchNormalization of <paramref name="graph"/> into its Conv; returns how many.</summary>
    public static int Fold(OnnxGraph graph, RewriteSteps? steps = null)
    {
        steps ??= RewriteSteps.None;
        var folded = 0;
        foreach (var conv in graph.Graph.Node.Where(n => n.OpType == "Conv").ToArray())
        {
            steps.Step(nameof(OnnxBatchNormFolder));
            if (Foldable(graph, conv) is not { } bn)
            {
                continue;
            }

            var w = graph.Constant(conv.Input[1])!;
            var weight = OnnxGraph.Floats(w);
            var channels = (int)w.Dims[0];
            var perChannel = weight.Length / channels;
            var bias = conv.Input.Count > 2 && conv.Input[2].Length > 0 ? OnnxGraph.Floats(graph.Constant(conv.Input[2])!) : new float[channels];
            var (scale, shift, mean, variance) = (Values(graph, bn, 1), Values(graph, bn, 2), Values(graph, bn, 3), Values(graph, bn, 4));
            var epsilon = OnnxGraph.Float(bn, "epsilon", 1e-5f);
            var newBias = new float[channels];
            for (var c = 0; c < channels; c++)
            {
                var s = scale[c] / Math.Sqrt(variance[c] + epsilon);
                for (var k = 0; k < perChannel; k++)
                {
                    weight[(c * perChannel) + k] = (float)(weight[(c * perChannel) + k] * s);
                }

                newBias[c] = (float)(((bias[c] - mean[c]) * s) + shift[c]);
            }

            Replace(graph, w, OnnxGraph.Tensor<float>(w.Name, OnnxElementType.Float, weight, w.Dims));
            var biasName = graph.NewName(conv.Output[0] + "_folded_bias");
            graph.Graph.Initializer.Add(OnnxGraph.Tensor<float>(biasName, OnnxElementType.Float, newBias, [channels]));
            var oldBias = conv.Input.Count > 2 ? conv.Input[2] : null;
            if (conv.Input.Count > 2)
            {
                conv.Input[2] = biasName;
            }
            else
            {
                conv.Input.Add(biasName);
            }

            // The Conv now writes what the normalisation wrote; the normalisation and the constants only it read go.
            conv.Output[0] = bn.Output[0];
            graph.Graph.Node.Remove(bn);
            foreach (var name in bn.Input.Skip(1).Append(oldBias).OfType<string>().Where(n => n.Length > 0).Distinct(StringComparer.Ordinal))
            {
                if (graph.Consumers(name) == 0 && graph.Constant(name) is { } unused)
                {
                    graph.Graph.Initializer.Remove(unused);
                }
            }

            folded++;
        }

        if (folded > 0)
        {
            // Shapes recorded for the removed intermediate values are stale; ONNX Runtime infers them again.
            graph.Graph.ValueInfo.Clear();
        }

        return folded;
    }

    private static float[] Values(OnnxGraph graph, NodeProto bn, int input) => OnnxGraph.Floats(graph.Constant(bn.Input[input])!);

    private static void Replace(OnnxGraph graph, TensorProto old, TensorProto replacement) =>
        graph.Graph.Initializer[graph.Graph.Initializer.IndexOf(old)] = replacement;
}
