using Maas.Core.Formats.Onnx;
using Maas.Core.Registry;
using Maas.Optimization.Onnx;

namespace Maas.Optimization.Tests;

/// <summary>The operators read from an ONNX file without its initializers, and the submission check built on them.</summary>
public sealed class OptimizationApplicabilityTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("maas-applicability-tests-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    private static readonly ModelVersion Source = new() { ModelId = 1, Model = "trees", Version = 3, Status = VersionStatus.Ready };

    private static OptimizationSpec Spec(string method) => new() { Model = "trees", Version = 3, SourceSha256 = "", Method = method, CreatedBy = "test" };

    // A tree ensemble regressor of one split after a large initializer the scan must skip, optionally followed by a MatMul.
    private string Model(string name, bool withMatMul)
    {
        var path = Path.Combine(_folder, name + ".onnx");
        var writer = new OnnxModelWriter("trees", opset: 12).Opset(1, "ai.onnx.ml")
            .Input("x", OnnxElementType.Float, "batch", 4)
            .Output("score", OnnxElementType.Float, "batch", 1)
            .Initializer("big", new float[100_000], [100_000])
            .Node(
                "TreeEnsembleRegressor",
                ["x"],
                [withMatMul ? "tree" : "score"],
                "trees",
                "ai.onnx.ml",
                OnnxAttribute.Ints("nodes_treeids", 0, 0, 0),
                OnnxAttribute.Ints("nodes_nodeids", 0, 1, 2),
                OnnxAttribute.Ints("nodes_featureids", 0, 0, 0),
                OnnxAttribute.Strings("nodes_modes", "BRANCH_LEQ", "LEAF", "LEAF"),
                OnnxAttribute.Floats("nodes_values", 0.5f, 0, 0),
                OnnxAttribute.Ints("nodes_truenodeids", 1, 0, 0),
                OnnxAttribute.Ints("nodes_falsenodeids", 2, 0, 0),
                OnnxAttribute.Ints("target_treeids", 0, 0),
                OnnxAttribute.Ints("target_nodeids", 1, 2),
                OnnxAttribute.Ints("target_ids", 0, 0),
                OnnxAttribute.Floats("target_weights", -1, 1),
                OnnxAttribute.Int("n_targets", 1));
        if (withMatMul)
        {
            writer.Initializer("w", [2f], [1, 1]).Node("MatMul", ["tree", "w"], ["score"]);
        }

        writer.Save(path);
        return path;
    }

    [Fact]
    public void The_operators_of_the_main_graph_are_read_past_its_initializers()
    {
        Assert.Equal(
            new HashSet<(string, string)> { ("ai.onnx.ml", "TreeEnsembleRegressor"), ("", "MatMul") },
            OnnxOperators.Read(Model("mixed", withMatMul: true)).ToHashSet());
    }

    [Theory]
    [InlineData(OptimizationMethods.OnnxFp16)]
    [InlineData(OptimizationMethods.OnnxInt8Dynamic)]
    [InlineData(OptimizationMethods.OnnxInt8Static)]
    [InlineData(OptimizationMethods.PruneMagnitude)]
    [InlineData(OptimizationMethods.PruneStructured)]
    public void A_tree_ensemble_alone_is_refused_naming_its_operator_and_one_beside_a_matmul_is_not(string method)
    {
        var e = Assert.Throws<OptimizationRequestException>(() => OptimizationApplicability.Check(Spec(method), Source, Model("trees", withMatMul: false)));
        Assert.Equal("method_not_applicable", e.Code);
        Assert.StartsWith($"{method} cannot apply to version 3 of 'trees': it is a tree ensemble (ai.onnx.ml TreeEnsembleRegressor)", e.Message, StringComparison.Ordinal);

        // A MatMul the method may rewrite: the job decides (prune-structured may still find nothing there).
        OptimizationApplicability.Check(Spec(method), Source, Model("mixed", withMatMul: true));
    }

    [Fact]
    public void Int4_is_refused_for_a_tree_ensemble_and_for_matmul_weights_too_small_for_it()
    {
        var trees = Assert.Throws<OptimizationRequestException>(
            () => OptimizationApplicability.Check(Spec(OptimizationMethods.OnnxInt4), Source, Model("trees", withMatMul: false)));
        Assert.StartsWith("onnx-int4 cannot apply to version 3 of 'trees': it is a tree ensemble", trees.Message, StringComparison.Ordinal);

        // Beside the trees, a 1 x 1 MatMul weight: nothing MatMulNBits takes, named with its shape.
        var small = Assert.Throws<OptimizationRequestException>(
            () => OptimizationApplicability.Check(Spec(OptimizationMethods.OnnxInt4), Source, Model("mixed", withMatMul: true)));
        Assert.Equal("method_not_applicable", small.Code);
        Assert.Contains("at least 1024 values with K at least block_size (32), and its MatMul weights are w [1, 1]", small.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(64, 32, 32, true)] // 2 048 values, K 64 >= 32
    [InlineData(16, 128, 32, false)] // 2 048 values but K 16 < block 32
    [InlineData(16, 128, 16, true)] // the same weight with blocks of 16
    [InlineData(32, 31, 32, false)] // 992 values
    public void Int4_is_allowed_exactly_where_the_rewrite_takes_a_weight(int k, int n, int blockSize, bool allowed)
    {
        var path = Path.Combine(_folder, $"mlp-{k}-{n}-{blockSize}.onnx");
        var weight = Enumerable.Range(0, k * n).Select(i => (i % 7) - 3f).ToArray();
        new OnnxModelWriter("mlp", opset: 13)
            .Input("x", OnnxElementType.Float, "batch", k)
            .Output("y", OnnxElementType.Float, "batch", n)
            .Initializer("w", weight, [k, n])
            .Node("MatMul", ["x", "w"], ["y"])
            .Save(path);
        var spec = Spec(OptimizationMethods.OnnxInt4) with { BlockSize = blockSize };

        // The submission check and the rewrite agree: refused exactly when the rewrite would quantise nothing.
        var refused = Record.Exception(() => OptimizationApplicability.Check(spec, Source, path));
        Assert.Equal(allowed, refused is null);
        var graph = OnnxGraph.Load(path);
        Assert.Equal(allowed ? 1 : 0, OnnxInt4Quantizer.Rewrite(graph, blockSize).MatMulsQuantized);
    }

    [Fact]
    public void The_summary_reads_initializer_shapes_and_node_inputs_without_their_values()
    {
        var summary = OnnxOperators.Summarize(Model("mixed", withMatMul: true));
        Assert.Equal([100_000L], summary.Initializers["big"].Dims);
        Assert.Equal((int)OnnxElementType.Float, summary.Initializers["w"].DataType);
        Assert.Equal(["tree", "w"], summary.Nodes.Single(n => n.OpType == "MatMul").Inputs);
        Assert.Contains("x", summary.Inputs);
        Assert.Null(summary.Constant("x"));
    }

    [Fact]
    public void Onnx_optimize_applies_to_a_tree_ensemble() =>
        OptimizationApplicability.Check(Spec(OptimizationMethods.OnnxOptimize), Source, Model("trees", withMatMul: false));
}
