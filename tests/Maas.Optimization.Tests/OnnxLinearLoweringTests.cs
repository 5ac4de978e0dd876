using Maas.Core.Formats;
using Maas.Core.Formats.Onnx;
using Maas.Optimization.Onnx;
using Maas.Runtimes.Onnx;

namespace Maas.Optimization.Tests;

/// <summary>The ONNX-ML LinearClassifier (ML.NET's linear multiclass export) lowered to default-domain operators, run on ONNX Runtime.</summary>
public sealed class OnnxLinearLoweringTests : IDisposable
{
    private const int Features = 5;
    private const int Classes = 4;
    private const int Rows = 64;
    private readonly string _folder = Directory.CreateTempSubdirectory("maas-lowering-tests-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    private static float[] Uniform(Random random, int count) => Enumerable.Range(0, count).Select(_ => (random.NextSingle() * 2) - 1).ToArray();

    private static (long[] Labels, float[] Scores) Run(string path, float[] x)
    {
        using var options = new OnnxSessionOptions { IntraOpThreads = 1, InterOpThreads = 1 };
        using var session = OnnxSession.Open(path, options);
        using var input = OnnxTensor.Create(x, Rows, Features);
        using var outputs = session.Run([new("x", input)], ["label", "scores"]);
        return (outputs[0].GetData<long>().ToArray(), outputs[1].GetData<float>().ToArray());
    }

    [Theory]
    [InlineData("SOFTMAX", 1)] // ML.NET's form: softmax scores, labels counted from 1
    [InlineData("NONE", 0)]
    [InlineData("LOGISTIC", 7)]
    public void A_linear_classifier_lowered_to_matmul_gives_the_same_labels_and_scores_and_quantises(string post, long firstLabel)
    {
        var random = new Random(3);
        var labels = Enumerable.Range(0, Classes).Select(i => firstLabel + i).ToArray();
        var source = Path.Combine(_folder, $"linear-{post}.onnx");
        new OnnxModelWriter("linear", opset: 12).Opset(1, "ai.onnx.ml")
            .Input("x", OnnxElementType.Float, "batch", Features)
            .Output("label", OnnxElementType.Int64, "batch")
            .Output("scores", OnnxElementType.Float, "batch", Classes)
            .Node(
                "LinearClassifier",
                ["x"],
                ["label", "scores"],
                "classifier",
                "ai.onnx.ml",
                OnnxAttribute.Floats("coefficients", Uniform(random, Features * Classes)),
                OnnxAttribute.Floats("intercepts", Uniform(random, Classes)),
                OnnxAttribute.Ints("classlabels_ints", labels),
                OnnxAttribute.String("post_transform", post),
                OnnxAttribute.Int("multi_class", 1))
            .Save(source);

        var graph = OnnxGraph.Load(source);
        Assert.Equal(1, OnnxLinearLowering.Lower(graph));
        Assert.DoesNotContain(graph.Graph.Node, n => n.Domain == "ai.onnx.ml");
        var lowered = Path.Combine(_folder, $"lowered-{post}.onnx");
        graph.Save(lowered);
        OnnxModelReader.Read(lowered); // MaaS's own validation of uploads.

        var x = Uniform(random, Rows * Features);
        var (expectedLabels, expectedScores) = Run(source, x);
        var (actualLabels, actualScores) = Run(lowered, x);
        Assert.Equal(expectedLabels, actualLabels);
        Assert.Contains(expectedLabels, l => l != expectedLabels[0]); // the rows do not all fall in one class
        for (var i = 0; i < expectedScores.Length; i++)
        {
            Assert.True(Math.Abs(expectedScores[i] - actualScores[i]) < 1e-5, $"score {i}: {expectedScores[i]} vs {actualScores[i]}");
        }

        // The weight is now an initializer of a MatMul, which the int8 quantiser rewrites.
        Assert.Equal(1, OnnxInt8Quantizer.Rewrite(graph).MatMulsQuantized);
    }

    [Fact]
    public void A_linear_classifier_with_string_labels_is_left_as_it_is()
    {
        var random = new Random(4);
        var source = Path.Combine(_folder, "strings.onnx");
        new OnnxModelWriter("linear", opset: 12).Opset(1, "ai.onnx.ml")
            .Input("x", OnnxElementType.Float, "batch", Features)
            .Output("label", OnnxElementType.String, "batch")
            .Output("scores", OnnxElementType.Float, "batch", 2)
            .Node(
                "LinearClassifier",
                ["x"],
                ["label", "scores"],
                "classifier",
                "ai.onnx.ml",
                OnnxAttribute.Floats("coefficients", Uniform(random, Features * 2)),
                OnnxAttribute.Floats("intercepts", Uniform(random, 2)),
                OnnxAttribute.Strings("classlabels_strings", "no", "yes"))
            .Save(source);

        var graph = OnnxGraph.Load(source);
        Assert.Equal(0, OnnxLinearLowering.Lower(graph));
        Assert.Single(graph.Graph.Node, n => n.OpType == "LinearClassifier");
    }
}
