using Maas.Core.Formats;
using Maas.Core.Formats.Onnx;
using Maas.Optimization.Onnx;
using Maas.Runtimes.Onnx;

namespace Maas.Optimization.Tests;

/// <summary>
/// The ONNX-ML linear operators ML.NET and other exporters write (LinearClassifier, multiclass and binary, integer and
/// string labels; LinearRegressor) lowered to default-domain operators, run on ONNX Runtime against the original.
/// </summary>
public sealed class OnnxLinearLoweringTests : IDisposable
{
    private const int Features = 16; // the int8 quantiser leaves weights of fewer than 16 values
    private const int Classes = 4;
    private const int Rows = 64;
    private readonly string _folder = Directory.CreateTempSubdirectory("maas-lowering-tests-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    private static float[] Uniform(Random random, int count) => Enumerable.Range(0, count).Select(_ => (random.NextSingle() * 2) - 1).ToArray();

    // A model of one LinearClassifier from x [batch, 16] to label [batch] (int64 or string) and scores [batch, width].
    private string Classifier(string name, Random random, int rows, OnnxAttribute labels, string post, int width)
    {
        var path = Path.Combine(_folder, name + ".onnx");
        var strings = labels.Proto.Strings.Count > 0;
        new OnnxModelWriter("linear", opset: 12).Opset(1, "ai.onnx.ml")
            .Input("x", OnnxElementType.Float, "batch", Features)
            .Output("label", strings ? OnnxElementType.String : OnnxElementType.Int64, "batch")
            .Output("scores", OnnxElementType.Float, "batch", width)
            .Node(
                "LinearClassifier",
                ["x"],
                ["label", "scores"],
                "classifier",
                "ai.onnx.ml",
                OnnxAttribute.Floats("coefficients", Uniform(random, Features * rows)),
                OnnxAttribute.Floats("intercepts", Uniform(random, rows)),
                labels,
                OnnxAttribute.String("post_transform", post),
                OnnxAttribute.Int("multi_class", rows > 1 ? 1 : 0))
            .Save(path);
        return path;
    }

    // Lowers the model at `source`, checks nothing of ONNX-ML's linear operators is left and the file passes MaaS's
    // upload validation; returns the lowered graph and its path.
    private (OnnxGraph Graph, string Path) Lowered(string source, LinearLoweringResult expected)
    {
        var graph = OnnxGraph.Load(source);
        Assert.Equal(expected, OnnxLinearLowering.Lower(graph));
        Assert.DoesNotContain(graph.Graph.Node, n => n.OpType is "LinearClassifier" or "LinearRegressor");
        var path = Path.Combine(_folder, "lowered-" + System.IO.Path.GetFileName(source));
        graph.Save(path);
        OnnxModelReader.Read(path); // MaaS's own validation of uploads.
        return (graph, path);
    }

    // Every output of both models on the same rows: strings and integers equal, floats within 1e-5.
    private static void SameOutputs(string source, string lowered, float[] x)
    {
        using var options = new OnnxSessionOptions { IntraOpThreads = 1, InterOpThreads = 1 };
        using var a = OnnxSession.Open(source, options);
        using var b = OnnxSession.Open(lowered, options);
        Assert.Equal(a.Outputs.Select(o => (o.Name, o.ElementType)), b.Outputs.Select(o => (o.Name, o.ElementType)));
        using var input = OnnxTensor.Create(x, x.Length / Features, Features);
        using var expected = a.Run([new("x", input)]);
        using var actual = b.Run([new("x", input)]);
        for (var o = 0; o < expected.Count; o++)
        {
            Assert.Equal(expected[o].Shape, actual[o].Shape);
            switch (expected[o].ElementType)
            {
                case OnnxElementType.String:
                    var labels = expected[o].GetStrings();
                    Assert.Equal(labels, actual[o].GetStrings());
                    Assert.Contains(labels, l => l != labels[0]); // the rows do not all fall in one class
                    break;
                case OnnxElementType.Float:
                    var (e, f) = (expected[o].GetData<float>().ToArray(), actual[o].GetData<float>().ToArray());
                    for (var i = 0; i < e.Length; i++)
                    {
                        Assert.True(Math.Abs(e[i] - f[i]) < 1e-5, $"output {o} value {i}: {e[i]} vs {f[i]}");
                    }

                    break;
                default:
                    var ints = expected[o].LabelsAsInt64()!;
                    Assert.Equal(ints, actual[o].LabelsAsInt64());
                    Assert.Contains(ints, l => l != ints[0]);
                    break;
            }
        }
    }

    [Theory]
    [InlineData("SOFTMAX", 1)] // ML.NET's form: softmax scores, labels counted from 1
    [InlineData("NONE", 0)]
    [InlineData("LOGISTIC", 7)]
    public void A_linear_classifier_lowered_to_matmul_gives_the_same_labels_and_scores_and_quantises(string post, long firstLabel)
    {
        var random = new Random(3);
        var source = Classifier($"linear-{post}", random, Classes, OnnxAttribute.Ints("classlabels_ints", Enumerable.Range(0, Classes).Select(i => firstLabel + i).ToArray()),
            post, Classes);

        var (graph, lowered) = Lowered(source, new LinearLoweringResult(1, 0));

        SameOutputs(source, lowered, Uniform(random, Rows * Features));

        // The weight is now an initializer of a MatMul, which the int8 quantiser rewrites.
        Assert.Equal(1, OnnxInt8Quantizer.Rewrite(graph).MatMulsQuantized);
    }

    [Theory]
    [InlineData("SOFTMAX")]
    [InlineData("NONE")]
    public void A_linear_classifier_with_string_labels_gathers_its_label_from_a_string_constant(string post)
    {
        var random = new Random(4);
        var source = Classifier($"strings-{post}", random, 3, OnnxAttribute.Strings("classlabels_strings", "amber", "blue", "coral"), post, 3);

        var (graph, lowered) = Lowered(source, new LinearLoweringResult(1, 0));

        Assert.Single(graph.Graph.Node, n => n.OpType == "Gather");
        SameOutputs(source, lowered, Uniform(random, Rows * Features));
        Assert.Equal(1, OnnxInt8Quantizer.Rewrite(graph).MatMulsQuantized);
    }

    [Theory]
    [InlineData("LOGISTIC", false)]
    [InlineData("NONE", false)]
    [InlineData("LOGISTIC", true)]
    [InlineData("NONE", true)]
    public void A_binary_linear_classifier_of_one_score_row_gives_the_same_labels_and_two_scores(string post, bool strings)
    {
        // One weight row and two labels: ONNX Runtime labels by the sign of the raw score and writes two scores per row.
        var random = new Random(5);
        var labels = strings ? OnnxAttribute.Strings("classlabels_strings", "no", "yes") : OnnxAttribute.Ints("classlabels_ints", 0, 1);
        var source = Classifier($"binary-{post}-{strings}", random, 1, labels, post, 2);

        var (graph, lowered) = Lowered(source, new LinearLoweringResult(1, 0));

        SameOutputs(source, lowered, Uniform(random, Rows * Features));
        Assert.Equal(1, OnnxInt8Quantizer.Rewrite(graph).MatMulsQuantized);
    }

    [Fact]
    public void Ml_net_binary_form_linear_regressor_score_calibrated_and_thresholded_is_lowered_and_keeps_every_output()
    {
        // What ML.NET's SDCA and L-BFGS logistic regression export: a LinearRegressor score, a Platt calibrator
        // (Mul, Add, Sigmoid) for the probability, and a Binarizer at 0 cast to bool for the label.
        var random = new Random(6);
        var source = Path.Combine(_folder, "mlnet-binary.onnx");
        new OnnxModelWriter("binary", opset: 12).Opset(1, "ai.onnx.ml")
            .Input("x", OnnxElementType.Float, "batch", Features)
            .Output("Score", OnnxElementType.Float, "batch", 1)
            .Output("Probability", OnnxElementType.Float, "batch", 1)
            .Output("PredictedLabel", OnnxElementType.Bool, "batch", 1)
            .Initializer("Slope", [-1.7f], [])
            .Initializer("Offset", [0.2f], [])
            .Node("LinearRegressor", ["x"], ["Score"], "LinearRegressor", "ai.onnx.ml", OnnxAttribute.String("post_transform", "NONE"), OnnxAttribute.Int("targets", 1),
                OnnxAttribute.Floats("coefficients", Uniform(random, Features)), OnnxAttribute.Floats("intercepts", 0.1f))
            .Node("Mul", ["Score", "Slope"], ["MulNodeOutput"])
            .Node("Add", ["MulNodeOutput", "Offset"], ["linearOutput"])
            .Node("Sigmoid", ["linearOutput"], ["Probability"])
            .Node("Binarizer", ["Score"], ["BinarizerOutput"], "Binarizer", "ai.onnx.ml", OnnxAttribute.Float("threshold", 0))
            .Node("Cast", ["BinarizerOutput"], ["PredictedLabel"], OnnxAttribute.Int("to", (long)OnnxElementType.Bool))
            .Save(source);

        var (graph, lowered) = Lowered(source, new LinearLoweringResult(0, 1));

        SameOutputs(source, lowered, Uniform(random, Rows * Features));
        Assert.Equal(1, OnnxInt8Quantizer.Rewrite(graph).MatMulsQuantized);
        Assert.Single(graph.Graph.Node, n => n.OpType == "Binarizer"); // the calibrator and threshold stay as they were
    }

    [Fact]
    public void Linear_nodes_whose_meaning_is_not_plain_are_left_as_they_are()
    {
        var random = new Random(7);

        // PROBIT has no default-domain operator; three labels for two weight rows; a regressor with a post transform.
        var probit = Classifier("probit", random, 1, OnnxAttribute.Ints("classlabels_ints", 0, 1), "PROBIT", 2);
        var mismatched = Classifier("mismatched", random, 2, OnnxAttribute.Strings("classlabels_strings", "a", "b", "c"), "NONE", 2);
        var regressor = Path.Combine(_folder, "regressor.onnx");
        new OnnxModelWriter("regressor", opset: 12).Opset(1, "ai.onnx.ml")
            .Input("x", OnnxElementType.Float, "batch", Features)
            .Output("y", OnnxElementType.Float, "batch", 1)
            .Node("LinearRegressor", ["x"], ["y"], "r", "ai.onnx.ml", OnnxAttribute.String("post_transform", "SOFTMAX"),
                OnnxAttribute.Floats("coefficients", Uniform(random, Features)))
            .Save(regressor);

        foreach (var path in new[] { probit, mismatched, regressor })
        {
            var graph = OnnxGraph.Load(path);
            Assert.Equal(new LinearLoweringResult(0, 0), OnnxLinearLowering.Lower(graph));
            Assert.Single(graph.Graph.Node);
        }
    }
}
