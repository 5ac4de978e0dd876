using Maas.Core.Formats.Onnx;
using Maas.Core.Formats.Onnx.Proto;
using Maas.Optimization.Onnx;

namespace Maas.Optimization.FineTuning;

/// <summary>
/// GELU written out as elementwise nodes, as exporters without a Gelu operator write it: PyTorch's erf form
/// 0.5·x·(1 + erf(x/√2)) (Div, Erf, Add, Mul, Mul), the tanh form 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))), or the
/// sigmoid form x·σ(√(8/π)·(x + 0.044715·x³)) the ggml trainer's own export writes. It is recognised by what it
/// computes, not by the order of its nodes or operands: a run of consecutive nodes that read only x, scalar constants
/// and each other's outputs is evaluated at points in [-3, 3] and compared with both forms, which differ by up to
/// 4.7e-4 there (at x ≈ -2.7), far above the tolerance.
/// </summary>
public static class OnnxGeluBlock
{
    /// <summary>The most nodes a written-out GELU takes (the forms above take 5 to 9, Constant nodes included).</summary>
    public const int MaxNodes = 16;

    // Float constants (1.4142135f for √2) put a written-out form within about 1e-7 of its exact value.
    private const double Tolerance = 1e-5;

    // Unary and binary elementwise operators a written-out GELU is made of.
    private static readonly Dictionary<string, int> Arity = new(StringComparer.Ordinal)
    {
        ["Add"] = 2,
        ["Sub"] = 2,
        ["Mul"] = 2,
        ["Div"] = 2,
        ["Pow"] = 2,
        ["Sqrt"] = 1,
        ["Erf"] = 1,
        ["Tanh"] = 1,
        ["Sigmoid"] = 1,
        ["Neg"] = 1,
    };

    /// <summary>Which GELU a block computes.</summary>
    public enum Form
    {
        /// <summary>The exact form, 0.5·x·(1 + erf(x/√2)).</summary>
        Erf,

        /// <summary>The tanh approximation (or its sigmoid spelling), which the ggml trainer computes.</summary>
        Tanh,
    }

    /// <summary>A written-out GELU: the index of its last node, its output and its form.</summary>
    public sealed record Match(int Last, string Output, Form Form);

    /// <summary>The shortest run of nodes from index <paramref name="start"/> that computes GELU of <paramref name="x"/>, or null.</summary>
    public static Match? Find(OnnxGraph graph, int start, string x)
    {
        var nodes = graph.Graph.Node;
        var constants = new Dictionary<string, double>(StringComparer.Ordinal);
        var produced = new HashSet<string>(StringComparer.Ordinal) { x };
        var block = new List<NodeProto>();
        for (var i = start; i < nodes.Count && i < start + MaxNodes; i++)
        {
            var node = nodes[i];
            if (node.Domain is not ("" or "ai.onnx") || node.Output.Count != 1)
            {
                return null;
            }

            if (node.OpType == "Constant")
            {
                if (ConstantNodeValue(node) is not { } value)
                {
                    return null;
                }

                constants[node.Output[0]] = value;
                block.Add(node);
                continue;
            }

            if (!Arity.TryGetValue(node.OpType, out var arity) || node.Input.Count != arity)
            {
                return null;
            }

            foreach (var input in node.Input)
            {
                if (produced.Contains(input) || constants.ContainsKey(input))
                {
                    continue;
                }

                if (graph.Constant(input) is not { } tensor || Scalar(tensor) is not { } value)
                {
                    return null;
                }

                constants[input] = value;
            }

            block.Add(node);
            produced.Add(node.Output[0]);
            if (Closed(graph, block, node.Output[0]) && Evaluate(block, x, constants) is { } form)
            {
                return new Match(i, node.Output[0], form);
            }
        }

        return null;
    }

    /// <summary>0.5·x·(1 + erf(x/√2)).</summary>
    public static double GeluErf(double x) => 0.5 * x * (1 + Erf(x / Math.Sqrt(2)));

    /// <summary>x·σ(√(8/π)·(x + 0.044715·x³)), the same as 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))).</summary>
    public static double GeluTanh(double x) => x / (1 + Math.Exp(-Math.Sqrt(8 / Math.PI) * (x + (0.044715 * x * x * x))));

    // Nothing outside the block reads what the block computes on the way, and no graph output is one of those values.
    private static bool Closed(OnnxGraph graph, List<NodeProto> block, string output)
    {
        var inside = block.SelectMany(n => n.Output).Where(o => o != output).ToHashSet(StringComparer.Ordinal);
        return graph.Graph.Output.All(o => !inside.Contains(o.Name))
            && OnnxGraph.AllNodes(graph.Graph).All(n => block.Any(b => ReferenceEquals(b, n)) || n.Input.All(i => !inside.Contains(i)));
    }

    private static Form? Evaluate(List<NodeProto> block, string x, Dictionary<string, double> constants)
    {
        double erf = 0, tanh = 0;
        for (var step = -24; step <= 24; step++)
        {
            var point = step / 8.0;
            var values = new Dictionary<string, double>(constants, StringComparer.Ordinal) { [x] = point };
            var y = double.NaN;
            foreach (var node in block.Where(n => n.OpType != "Constant"))
            {
                var a = values[node.Input[0]];
                var b = node.Input.Count > 1 ? values[node.Input[1]] : 0;
                y = node.OpType switch
                {
                    "Add" => a + b,
                    "Sub" => a - b,
                    "Mul" => a * b,
                    "Div" => a / b,
                    "Pow" => Math.Pow(a, b),
                    "Sqrt" => Math.Sqrt(a),
                    "Erf" => Erf(a),
                    "Tanh" => Math.Tanh(a),
                    "Sigmoid" => 1 / (1 + Math.Exp(-a)),
                    _ => -a,
                };
                values[node.Output[0]] = y;
            }

            if (!double.IsFinite(y))
            {
                return null;
            }

            erf = Math.Max(erf, Math.Abs(y - GeluErf(point)));
            tanh = Math.Max(tanh, Math.Abs(y - GeluTanh(point)));
        }

        return erf <= Tolerance ? Form.Erf : tanh <= Tolerance ? Form.Tanh : null;
    }

    // erf by its Maclaurin series: 2/√π · Σ (-1)^n z^(2n+1) / (n! (2n+1)). Up to |z| = 4 the largest term is about
    // 1e5, so double rounding stays near 1e-11; beyond 4, erf is ±1 within 2e-8.
    private static double Erf(double z)
    {
        if (Math.Abs(z) > 4)
        {
            return Math.Sign(z);
        }

        double sum = 0, power = z;
        for (var n = 0; n < 80; n++)
        {
            var term = power / (2 * n + 1);
            sum += term;
            if (Math.Abs(term) < 1e-17)
            {
                break;
            }

            power *= -z * z / (n + 1);
        }

        return 2 / Math.Sqrt(Math.PI) * sum;
    }

    // The one value of a float tensor of one element (any rank), or null.
    private static double? Scalar(TensorProto tensor) =>
        tensor.DataType == (int)OnnxElementType.Float && OnnxGraph.Count(tensor) == 1 ? OnnxGraph.Floats(tensor)[0] : null;

    private static double? ConstantNodeValue(NodeProto node)
    {
        if (node.Attribute.Count != 1)
        {
            return null;
        }

        var attribute = node.Attribute[0];
        return attribute.Name switch
        {
            "value" when attribute.T is { } tensor => Scalar(tensor),
            "value_float" => attribute.F,
            _ => null,
        };
    }
}
