using Maas.Core.Formats.Onnx;
using Maas.Core.Formats.Onnx.Proto;

namespace Maas.Optimization.Onnx;

/// <summary>
/// Weight-only int4 quantisation of large MatMul weights with ONNX Runtime's <c>com.microsoft.MatMulNBits</c>: the
/// weight [K, N] is stored transposed as 4-bit codes in blocks of <c>block_size</c> values along K, each block with
/// its own scale, codes packed two to a byte low nibble first, the default zero point 8 (so codes 1-15 are -7..7).
/// </summary>
public static class OnnxInt4Quantizer
{
    /// <summary>The contrib operator domain.</summary>
    public const string Domain = "com.microsoft";

    /// <summary>The block size when a job names none.</summary>
    public const int DefaultBlockSize = 32;

    /// <summary>The fewest values a weight needs: small weights gain little and lose most from 4 bits.</summary>
    public const int MinValues = 1024;

    /// <summary>Whether a MatMul weight of this element type and shape is one the rewrite takes (when nothing else reads it).</summary>
    public static bool Eligible(int dataType, IReadOnlyList<long> dims, int blockSize) =>
        dataType == (int)OnnxElementType.Float && dims.Count == 2 && dims[0] * dims[1] >= MinValues && dims[0] >= blockSize;

    /// <summary>
    /// Rewrites <paramref name="graph"/> in place with blocks of <paramref name="blockSize"/> (a power of two, 16 or more);
    /// <paramref name="steps"/> is checked at each node.
    /// </summary>
    public static Int4Rewrite Rewrite(OnnxGraph graph, int blockSize, RewriteSteps? steps = null)
    {
        steps ??= RewriteSteps.None;
        int matmuls = 0;
        long weights = 0;
        foreach (var node in graph.Graph.Node.ToArray())
        {
            steps.Step(nameof(OnnxInt4Quantizer));
            if (node.OpType != "MatMul" || node.Domain is not ("" or "ai.onnx") || graph.Constant(node.Input[1]) is not { } w
                || !Eligible(w.DataType, w.Dims, blockSize) || graph.Consumers(w.Name) != 1)
            {
                continue;
            }

            var values = OnnxGraph.Floats(w);
            long k = w.Dims[0], n = w.Dims[1];
            var blocks = (k + blockSize - 1) / blockSize;
            var blob = blockSize / 2;
            var packed = new byte[n * blocks * blob];
            var scales = new float[n * blocks];
            for (var col = 0; col < n; col++)
            {
                for (var b = 0; b < blocks; b++)
                {
                    var max = 0f;
                    for (var i = 0; i < blockSize && (b * blockSize) + i < k; i++)
                    {
                        max = Math.Max(max, Math.Abs(values[(((b * blockSize) + i) * n) + col]));
                    }

                    var scale = max > 0 ? max / 7f : 1f;
                    scales[(col * blocks) + b] = scale;
                    for (var i = 0; i < blockSize; i++)
                    {
                        var row = (b * blockSize) + i;
                        var code = row < k ? (int)Math.Clamp(MathF.Round(values[(row * n) + col] / scale), -7, 7) + 8 : 8;
                        var at = (((col * blocks) + b) * blob) + (i / 2);
                        packed[at] |= (byte)(i % 2 == 0 ? code : code << 4);
                    }
                }
            }

            graph.Graph.Initializer.Remove(w);
            var qName = graph.NewName(w.Name + "_int4");
            var sName = graph.NewName(w.Name + "_scales");
            graph.Graph.Initializer.Add(OnnxGraph.Tensor<byte>(qName, OnnxElementType.UInt8, packed, [n, blocks, blob]));
            graph.Graph.Initializer.Add(OnnxGraph.Tensor<float>(sName, OnnxElementType.Float, scales, [n * blocks]));
            var replacement = graph.Node("MatMulNBits", [node.Input[0], qName, sName], [node.Output[0]],
                OnnxGraph.IntAttribute("K", k), OnnxGraph.IntAttribute("N", n), OnnxGraph.IntAttribute("bits", 4), OnnxGraph.IntAttribute("block_size", blockSize));
            replacement.Domain = Domain;
            graph.Graph.Node[graph.Graph.Node.IndexOf(node)] = replacement;
            matmuls++;
            weights += values.Length;
        }

        if (matmuls > 0 && graph.Model.OpsetImport.All(o => o.Domain != Domain))
        {
            graph.Model.OpsetImport.Add(new OperatorSetIdProto { Domain = Domain, Version = 1 });
        }

        return new Int4Rewrite(matmuls, weights, blockSize);
    }
}
