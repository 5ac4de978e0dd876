using Maas.Core.Formats.Onnx;
using Maas.Core.Formats.Onnx.Proto;

namespace Maas.Optimization.Onnx;

/// <summary>
/// Rewrites the ONNX-ML <c>LinearClassifier</c> (what ML.NET exports its linear multiclass trainers as, weights held in
/// attributes) into default-domain operators that compute the same: scores <c>MatMul(X, Wᵀ) + b</c>, then the node's
/// post transform (NONE, SOFTMAX or LOGISTIC), and the label as the class of the scores' <c>ArgMax</c>. The weight is
/// then an initializer the int8 quantiser and the magnitude pruner can rewrite like any dense layer's.
/// </summary>
public static class OnnxLinearLowering
{
    private const string MlDomain = "ai.onnx.ml";

    /// <summary>Rewrites <paramref name="graph"/> in place; returns how many classifiers it lowered (others are left as they are).</summary>
    public static int Lower(OnnxGraph graph)
    {
        if (graph.Opset < 7)
        {
            return 0;
        }

        var lowered = 0;
        var nodes = graph.Graph.Node.ToArray();
        var rewritten = new List<NodeProto>(nodes.Length);
        foreach (var node in nodes)
        {
            if (node.Domain == MlDomain && node.OpType == "LinearClassifier" && Lowerable(node) is { } linear)
            {
                rewritten.AddRange(Rewrite(graph, node, linear));
                lowered++;
            }
            else
            {
                rewritten.Add(node);
            }
        }

        if (lowered > 0)
        {
            graph.Graph.Node.Clear();
            graph.Graph.Node.Add(rewritten);
        }

        return lowered;
    }

    private sealed record Linear(float[] Coefficients, float[] Intercepts, long[] Labels, int Classes, int Features, string PostTransform);

    // Only the form whose meaning is plain: one weight row and intercept per class, integer labels (ML.NET's count from 1).
    private static Linear? Lowerable(NodeProto node)
    {
        AttributeProto? Attribute(string name) => node.Attribute.FirstOrDefault(a => a.Name == name);
        var coefficients = Attribute("coefficients")?.Floats.ToArray() ?? [];
        var intercepts = Attribute("intercepts")?.Floats.ToArray() ?? [];
        var labels = Attribute("classlabels_ints")?.Ints.ToArray() ?? [];
        var post = Attribute("post_transform")?.S.ToStringUtf8() is { Length: > 0 } p ? p : "NONE";
        var k = labels.Length;
        if (k < 2 || intercepts.Length != k || coefficients.Length == 0 || coefficients.Length % k != 0
            || labels.Distinct().Count() != k || post is not ("NONE" or "SOFTMAX" or "LOGISTIC")
            || node.Input.Count != 1 || node.Output.Count != 2)
        {
            return null;
        }

        return new Linear(coefficients, intercepts, labels, k, coefficients.Length / k, post);
    }

    private static IEnumerable<NodeProto> Rewrite(OnnxGraph graph, NodeProto node, Linear linear)
    {
        var (k, f) = (linear.Classes, linear.Features);

        // The node holds one row of F weights per class; MatMul takes [F, K].
        var weight = new float[f * k];
        for (var c = 0; c < k; c++)
        {
            for (var i = 0; i < f; i++)
            {
                weight[(i * k) + c] = linear.Coefficients[(c * f) + i];
            }
        }

        var stem = string.IsNullOrEmpty(node.Name) ? "linear" : node.Name;
        var w = graph.NewName(stem + ".weight");
        var b = graph.NewName(stem + ".bias");
        graph.Graph.Initializer.Add(OnnxGraph.Tensor<float>(w, OnnxElementType.Float, weight, [f, k]));
        graph.Graph.Initializer.Add(OnnxGraph.Tensor<float>(b, OnnxElementType.Float, linear.Intercepts, [k]));
        var (label, scores) = (node.Output[0], node.Output[1]);
        var product = graph.NewName(stem + ".matmul");
        var raw = linear.PostTransform == "NONE" && !string.IsNullOrEmpty(scores) ? scores : graph.NewName(stem + ".scores");
        yield return graph.Node("MatMul", [node.Input[0], w], [product]);
        yield return graph.Node("Add", [product, b], [raw]);
        if (linear.PostTransform != "NONE" && !string.IsNullOrEmpty(scores))
        {
            yield return linear.PostTransform == "SOFTMAX"
                ? graph.Node("Softmax", [raw], [scores], OnnxGraph.IntAttribute("axis", 1))
                : graph.Node("Sigmoid", [raw], [scores]);
        }

        if (!string.IsNullOrEmpty(label))
        {
            // Both transforms keep the order of a row's scores, so the raw ones give the same label.
            if (linear.Labels.Select((l, i) => l == i).All(x => x))
            {
                yield return graph.Node("ArgMax", [raw], [label], OnnxGraph.IntAttribute("axis", 1), OnnxGraph.IntAttribute("keepdims", 0));
            }
            else
            {
                // Other labels: the class of each row's largest score, looked up by its index.
                var index = graph.NewName(stem + ".argmax");
                var labels = graph.NewName(stem + ".labels");
                graph.Graph.Initializer.Add(OnnxGraph.Tensor<long>(labels, OnnxElementType.Int64, linear.Labels, [k]));
                yield return graph.Node("ArgMax", [raw], [index], OnnxGraph.IntAttribute("axis", 1), OnnxGraph.IntAttribute("keepdims", 0));
                yield return graph.Node("Gather", [labels, index], [label], OnnxGraph.IntAttribute("axis", 0));
            }
        }
    }
}
