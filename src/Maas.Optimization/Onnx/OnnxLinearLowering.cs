using Google.Protobuf;
using Maas.Core.Formats.Onnx;
using Maas.Core.Formats.Onnx.Proto;

namespace Maas.Optimization.Onnx;

/// <summary>
/// Rewrites the ONNX-ML linear operators ML.NET exports its linear trainers as (weights held in attributes) into
/// default-domain operators that compute the same, so the weight becomes an initializer the int8 quantiser and the
/// magnitude pruner can rewrite like any dense layer's:
/// <list type="bullet">
/// <item><c>LinearClassifier</c> with one row per class (multiclass): scores <c>MatMul(X, Wᵀ) + b</c>, the node's post
/// transform (NONE, SOFTMAX or LOGISTIC), and the label as the class of the scores' <c>ArgMax</c>, integer or string;</item>
/// <item><c>LinearClassifier</c> with one row and two labels (binary, NONE or LOGISTIC): the label is the second when
/// the raw score is above 0, and the scores are <c>[1 - t, t]</c> of the score after the transform, as ONNX Runtime
/// writes them;</item>
/// <item><c>LinearRegressor</c> without a post transform (the score of ML.NET's binary linear classifiers and of its
/// linear regressions; the calibrator and the threshold after it are left as they are).</item>
/// </list>
/// </summary>
public static class OnnxLinearLowering
{
    private const string MlDomain = "ai.onnx.ml";

    /// <summary>Rewrites <paramref name="graph"/> in place; returns how many nodes it lowered (others are left as they are).</summary>
    public static LinearLoweringResult Lower(OnnxGraph graph, RewriteSteps? steps = null)
    {
        steps ??= RewriteSteps.None;
        if (graph.Opset < 7)
        {
            return new LinearLoweringResult(0, 0);
        }

        var (classifiers, regressors) = (0, 0);
        var nodes = graph.Graph.Node.ToArray();
        var rewritten = new List<NodeProto>(nodes.Length);
        foreach (var node in nodes)
        {
            steps.Step(nameof(OnnxLinearLowering));
            if (node.Domain == MlDomain && node.OpType == "LinearClassifier" && FloatInput(graph, node) && Classifier(node) is { } linear)
            {
                rewritten.AddRange(linear.Classes == 1 ? RewriteBinary(graph, node, linear) : Rewrite(graph, node, linear));
                classifiers++;
            }
            else if (node.Domain == MlDomain && node.OpType == "LinearRegressor" && FloatInput(graph, node) && Regressor(node) is { } regressor)
            {
                rewritten.AddRange(RewriteRegressor(graph, node, regressor));
                regressors++;
            }
            else
            {
                rewritten.Add(node);
            }
        }

        if (classifiers + regressors > 0)
        {
            graph.Graph.Node.Clear();
            graph.Graph.Node.Add(rewritten);
        }

        return new LinearLoweringResult(classifiers, regressors);
    }

    // Labels are integers or strings; Classes is the number of weight rows (1 for the binary form).
    private sealed record Linear(float[] Coefficients, float[] Intercepts, long[]? Labels, string[]? Names, int Classes, int Features, string PostTransform)
    {
        public int LabelCount => Labels?.Length ?? Names!.Length;

        public bool Identity => Labels is { } labels && labels.Select((l, i) => l == i).All(x => x);
    }

    private static AttributeProto? Attribute(NodeProto node, string name) => node.Attribute.FirstOrDefault(a => a.Name == name);

    // The ONNX-ML linear operators also take double and integer inputs; MatMul with a float weight takes float only.
    private static bool FloatInput(OnnxGraph graph, NodeProto node)
    {
        var name = node.Input.FirstOrDefault();
        var info = graph.Graph.Input.Concat(graph.Graph.ValueInfo).FirstOrDefault(v => v.Name == name);
        return info?.Type?.TensorType is not { } tensor || tensor.ElemType == (int)OnnxElementType.Float;
    }

    // Only the forms whose meaning is plain: one weight row and intercept per class and a label each, or the binary
    // form (one row, two labels); labels integers (ML.NET's count from 1) or strings.
    private static Linear? Classifier(NodeProto node)
    {
        var coefficients = Attribute(node, "coefficients")?.Floats.ToArray() ?? [];
        var intercepts = Attribute(node, "intercepts")?.Floats.ToArray() ?? [];
        var ints = Attribute(node, "classlabels_ints")?.Ints.ToArray() ?? [];
        var strings = Attribute(node, "classlabels_strings")?.Strings.Select(s => s.ToStringUtf8()).ToArray() ?? [];
        var post = Attribute(node, "post_transform")?.S.ToStringUtf8() is { Length: > 0 } p ? p : "NONE";
        if ((ints.Length > 0) == (strings.Length > 0) || node.Input.Count != 1 || node.Output.Count != 2
            || post is not ("NONE" or "SOFTMAX" or "LOGISTIC") || (intercepts.Length == 1 && post == "SOFTMAX"))
        {
            return null;
        }

        var linear = new Linear(coefficients, intercepts, ints.Length > 0 ? ints : null, strings.Length > 0 ? strings : null, intercepts.Length, 0, post);
        var k = linear.Classes;
        var distinct = linear.Labels?.Distinct().Count() ?? linear.Names!.Distinct(StringComparer.Ordinal).Count();
        if (k < 1 || coefficients.Length == 0 || coefficients.Length % k != 0 || distinct != linear.LabelCount
            || (k == 1 ? linear.LabelCount != 2 : linear.LabelCount != k))
        {
            return null;
        }

        return linear with { Features = coefficients.Length / k };
    }

    private sealed record Regression(float[] Coefficients, float[] Intercepts, int Targets, int Features);

    private static Regression? Regressor(NodeProto node)
    {
        var coefficients = Attribute(node, "coefficients")?.Floats.ToArray() ?? [];
        var intercepts = Attribute(node, "intercepts")?.Floats.ToArray() ?? [];
        var targets = (int)OnnxGraph.Int(node, "targets", 1);
        var post = Attribute(node, "post_transform")?.S.ToStringUtf8() is { Length: > 0 } p ? p : "NONE";
        if (post != "NONE" || targets < 1 || coefficients.Length == 0 || coefficients.Length % targets != 0
            || intercepts.Length is not 0 && intercepts.Length != targets || node.Input.Count != 1 || node.Output.Count != 1)
        {
            return null;
        }

        return new Regression(coefficients, intercepts, targets, coefficients.Length / targets);
    }

    // The node holds one row of F weights per output; MatMul takes [F, K]. Returns the weight and bias names.
    private static (string Weight, string? Bias) Initializers(OnnxGraph graph, string stem, float[] coefficients, float[] intercepts, int k, int f)
    {
        var weight = new float[f * k];
        for (var c = 0; c < k; c++)
        {
            for (var i = 0; i < f; i++)
            {
                weight[(i * k) + c] = coefficients[(c * f) + i];
            }
        }

        var w = graph.NewName(stem + ".weight");
        graph.Graph.Initializer.Add(OnnxGraph.Tensor<float>(w, OnnxElementType.Float, weight, [f, k]));
        if (intercepts.Length == 0)
        {
            return (w, null);
        }

        var b = graph.NewName(stem + ".bias");
        graph.Graph.Initializer.Add(OnnxGraph.Tensor<float>(b, OnnxElementType.Float, intercepts, [k]));
        return (w, b);
    }

    private static string Stem(NodeProto node, string fallback) => string.IsNullOrEmpty(node.Name) ? fallback : node.Name;

    // The class labels as a constant the label output gathers from: int64 or string, as the node's label output is typed.
    private static string LabelTable(OnnxGraph graph, string stem, Linear linear)
    {
        var name = graph.NewName(stem + ".labels");
        if (linear.Labels is { } labels)
        {
            graph.Graph.Initializer.Add(OnnxGraph.Tensor<long>(name, OnnxElementType.Int64, labels, [labels.Length]));
        }
        else
        {
            var tensor = new TensorProto { Name = name, DataType = (int)OnnxElementType.String };
            tensor.StringData.Add(linear.Names!.Select(ByteString.CopyFromUtf8));
            tensor.Dims.Add(linear.Names!.Length);
            graph.Graph.Initializer.Add(tensor);
        }

        return name;
    }

    private static IEnumerable<NodeProto> Rewrite(OnnxGraph graph, NodeProto node, Linear linear)
    {
        var stem = Stem(node, "linear");
        var (w, b) = Initializers(graph, stem, linear.Coefficients, linear.Intercepts, linear.Classes, linear.Features);
        var (label, scores) = (node.Output[0], node.Output[1]);
        var product = graph.NewName(stem + ".matmul");
        var raw = linear.PostTransform == "NONE" && !string.IsNullOrEmpty(scores) ? scores : graph.NewName(stem + ".scores");
        yield return graph.Node("MatMul", [node.Input[0], w], [product]);
        yield return graph.Node("Add", [product, b!], [raw]);
        if (linear.PostTransform != "NONE" && !string.IsNullOrEmpty(scores))
        {
            yield return linear.PostTransform == "SOFTMAX"
                ? graph.Node("Softmax", [raw], [scores], OnnxGraph.IntAttribute("axis", 1))
                : graph.Node("Sigmoid", [raw], [scores]);
        }

        if (!string.IsNullOrEmpty(label))
        {
            // Both transforms keep the order of a row's scores, so the raw ones give the same label.
            if (linear.Identity)
            {
                yield return graph.Node("ArgMax", [raw], [label], OnnxGraph.IntAttribute("axis", 1), OnnxGraph.IntAttribute("keepdims", 0));
            }
            else
            {
                // Other labels: the class of each row's largest score, looked up by its index.
                var index = graph.NewName(stem + ".argmax");
                yield return graph.Node("ArgMax", [raw], [index], OnnxGraph.IntAttribute("axis", 1), OnnxGraph.IntAttribute("keepdims", 0));
                yield return graph.Node("Gather", [LabelTable(graph, stem, linear), index], [label], OnnxGraph.IntAttribute("axis", 0));
            }
        }
    }

    // One weight row, two labels: ONNX Runtime labels a row by the sign of its raw score s and writes [1 - t, t] as its
    // scores, t the transformed score (s, or the logistic of s).
    private static IEnumerable<NodeProto> RewriteBinary(OnnxGraph graph, NodeProto node, Linear linear)
    {
        var stem = Stem(node, "linear");
        var (w, b) = Initializers(graph, stem, linear.Coefficients, linear.Intercepts, 1, linear.Features);
        var (label, scores) = (node.Output[0], node.Output[1]);
        var product = graph.NewName(stem + ".matmul");
        var raw = graph.NewName(stem + ".score");
        yield return graph.Node("MatMul", [node.Input[0], w], [product]);
        yield return graph.Node("Add", [product, b!], [raw]);
        if (!string.IsNullOrEmpty(scores))
        {
            // [1 - t, t] of the transformed score t (LOGISTIC: the two classes' probabilities).
            var score = raw;
            if (linear.PostTransform == "LOGISTIC")
            {
                score = graph.NewName(stem + ".probability");
                yield return graph.Node("Sigmoid", [raw], [score]);
            }

            var one = graph.NewName(stem + ".one");
            var other = graph.NewName(stem + ".other");
            graph.Graph.Initializer.Add(OnnxGraph.Tensor<float>(one, OnnxElementType.Float, [1f], []));
            yield return graph.Node("Sub", [one, score], [other]);
            yield return graph.Node("Concat", [other, score], [scores], OnnxGraph.IntAttribute("axis", 1));
        }

        if (!string.IsNullOrEmpty(label))
        {
            var zero = graph.NewName(stem + ".zero");
            var flat = graph.NewName(stem + ".flat");
            graph.Graph.Initializer.Add(OnnxGraph.Tensor<float>(zero, OnnxElementType.Float, [0f], []));
            graph.Graph.Initializer.Add(OnnxGraph.Tensor<long>(flat, OnnxElementType.Int64, [-1L], [1]));
            var positive = graph.NewName(stem + ".positive");
            var index = graph.NewName(stem + ".index");
            var rows = graph.NewName(stem + ".rows");
            yield return graph.Node("Greater", [raw, zero], [positive]);
            yield return graph.Node("Cast", [positive], [index], OnnxGraph.IntAttribute("to", (long)OnnxElementType.Int64));
            yield return graph.Node("Reshape", [index, flat], [rows]);
            yield return graph.Node("Gather", [LabelTable(graph, stem, linear), rows], [label], OnnxGraph.IntAttribute("axis", 0));
        }
    }

    private static IEnumerable<NodeProto> RewriteRegressor(OnnxGraph graph, NodeProto node, Regression regression)
    {
        var stem = Stem(node, "regressor");
        var (w, b) = Initializers(graph, stem, regression.Coefficients, regression.Intercepts, regression.Targets, regression.Features);
        if (b is null)
        {
            yield return graph.Node("MatMul", [node.Input[0], w], [node.Output[0]]);
            yield break;
        }

        var product = graph.NewName(stem + ".matmul");
        yield return graph.Node("MatMul", [node.Input[0], w], [product]);
        yield return graph.Node("Add", [product, b], [node.Output[0]]);
    }
}
