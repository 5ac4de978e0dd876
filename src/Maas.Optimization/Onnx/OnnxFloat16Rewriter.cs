using Maas.Core.Formats.Onnx;
using Maas.Core.Formats.Onnx.Proto;

namespace Maas.Optimization.Onnx;

/// <summary>
/// Stores float32 weights as float16, each read back through a Cast to float32, so the graph's inputs, outputs and
/// arithmetic keep their types: the file roughly halves, CPU kernels still compute in float32.
/// </summary>
public static class OnnxFloat16Rewriter
{
    // Below this many values a Cast node costs more than the bytes it saves.
    private const int MinValues = 16;

    /// <summary>Rewrites <paramref name="graph"/> in place; <paramref name="steps"/> is checked at each initializer.</summary>
    public static Float16Rewrite Rewrite(OnnxGraph graph, RewriteSteps? steps = null)
    {
        steps ??= RewriteSteps.None;
        var casts = new List<NodeProto>();
        var converted = 0;
        long values = 0;
        long overflowed = 0;
        foreach (var tensor in graph.Graph.Initializer.ToArray())
        {
            steps.Step(nameof(OnnxFloat16Rewriter));
            if (tensor.DataType != (int)OnnxElementType.Float || OnnxGraph.Count(tensor) < MinValues || graph.Constant(tensor.Name) is null)
            {
                continue;
            }

            var floats = OnnxGraph.Floats(tensor);
            var halves = new ushort[floats.Length];
            for (var i = 0; i < floats.Length; i++)
            {
                var half = (Half)floats[i];
                if (Half.IsInfinity(half) && float.IsFinite(floats[i]))
                {
                    overflowed++; // Beyond ±65504: the gate sees what this does to the outputs.
                }

                halves[i] = BitConverter.HalfToUInt16Bits(half);
            }

            var stored = graph.NewName(tensor.Name + "_fp16");
            graph.Graph.Initializer.Remove(tensor);
            graph.Graph.Initializer.Add(OnnxGraph.Tensor<ushort>(stored, OnnxElementType.Float16, halves, tensor.Dims));
            casts.Add(graph.Node("Cast", [stored], [tensor.Name], OnnxGraph.IntAttribute("to", (long)OnnxElementType.Float)));
            converted++;
            values += floats.Length;
        }

        // The casts come first, so every reader of a weight (subgraphs too) still finds it under its old name.
        for (var i = casts.Count - 1; i >= 0; i--)
        {
            graph.Graph.Node.Insert(0, casts[i]);
        }

        return new Float16Rewrite(converted, values, overflowed);
    }
}
