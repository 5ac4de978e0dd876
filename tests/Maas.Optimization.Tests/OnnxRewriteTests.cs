using Maas.Core.Formats;
using Maas.Core.Formats.Onnx;
using Maas.Optimization.Onnx;
using Maas.Runtimes.Onnx;
using Maas.Testing;

namespace Maas.Optimization.Tests;

/// <summary>The ONNX rewriters on generated models and UltaFace: every rewrite loads in ONNX Runtime and passes MaaS's validation.</summary>
public sealed class OnnxRewriteTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("maas-opt-tests-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    private string Mlp(string name, int seed = 3, float scale = 1, bool softmax = true)
    {
        var layers = DenseLayer.RandomStack(64, [128, 64], 10, seed)
            .Select(l => l with { Weight = l.Weight.Select(w => w * scale).ToArray() })
            .ToArray();
        var path = Path.Combine(_folder, name);
        OnnxModelWriter.Mlp(layers, softmax: softmax).Save(path);
        return path;
    }

    private string Rewrite(string source, Action<OnnxGraph> rewrite)
    {
        var graph = OnnxGraph.Load(source);
        rewrite(graph);
        var output = Path.Combine(_folder, Path.GetFileNameWithoutExtension(source) + "-" + Guid.NewGuid().ToString("n")[..6] + ".onnx");
        graph.Save(output);
        OnnxModelReader.Read(output); // MaaS's own validation of uploads.
        return output;
    }

    [Fact]
    public void Int8_dynamic_of_a_generated_mlp_is_smaller_and_within_tolerance()
    {
        var source = Mlp("mlp.onnx");
        Int8Rewrite? info = null;
        var output = Rewrite(source, g => info = OnnxInt8Quantizer.Rewrite(g));

        Assert.Equal(3, info!.MatMulsQuantized);
        Assert.True(new FileInfo(output).Length < new FileInfo(source).Length * 0.4, $"{new FileInfo(output).Length} vs {new FileInfo(source).Length}");
        var c = OnnxComparison.Compare(source, output, samples: 16, seed: 5, timedRuns: 3, CancellationToken.None);
        Assert.Equal(0, c.NonFiniteValues);
        Assert.True(c.MeanAbsDiff / c.SourceMeanAbs < 0.05, $"relative mean diff {c.MeanAbsDiff / c.SourceMeanAbs}");
        Assert.True(c.Top1Agreement >= 0.9, $"top-1 agreement {c.Top1Agreement}");
        Assert.True(c.MaxAbsDiff > 0, "int8 weights must change the outputs at least a little");
        var gate = OptimizationGate.Evaluate(ModelFormat.Onnx, null, Metrics(c));
        Assert.True(gate.Passed, string.Join("; ", gate.Checks));
    }

    [Fact]
    public void A_weight_that_is_also_a_graph_output_keeps_its_values_so_the_rewrite_still_loads()
    {
        // A model that returns a weight it multiplies by: int8 and int4 replaced the weight and left the output unmade.
        var random = new Random(8);
        var weights = Enumerable.Range(0, 32 * 48).Select(_ => (float)((random.NextDouble() * 2) - 1)).ToArray();
        var source = Path.Combine(_folder, "weight-output.onnx");
        new OnnxModelWriter().Input("input", OnnxElementType.Float, "batch", 32).Output("output", OnnxElementType.Float, "batch", 48).Output("w", OnnxElementType.Float, 32, 48)
            .Initializer("w", weights, [32, 48]).Node("MatMul", ["input", "w"], ["output"]).Save(source);

        Int8Rewrite? int8 = null;
        Int4Rewrite? int4 = null;
        foreach (var output in new[] { Rewrite(source, g => int8 = OnnxInt8Quantizer.Rewrite(g)), Rewrite(source, g => int4 = OnnxInt4Quantizer.Rewrite(g, 16)) })
        {
            var c = OnnxComparison.Compare(source, output, samples: 2, seed: 5, timedRuns: 1, CancellationToken.None);
            Assert.Equal(0, c.MaxAbsDiff);
        }

        Assert.Equal(0, int8!.WeightsQuantized);
        Assert.Equal(0, int4!.WeightsQuantized);

        // The report says why each weight was left alone (its "skipped" list was always empty).
        Assert.Equal(["MatMul 'MatMul_0': its weight 'w' is also used elsewhere (by another node or as a graph output)"], int8.Skipped);
    }

    [Fact]
    public void A_weight_too_small_to_quantise_is_listed_as_skipped_with_its_size()
    {
        // ML.NET's lowered linear classifier on four features and three classes: a 4 x 3 weight.
        var source = Path.Combine(_folder, "tiny.onnx");
        new OnnxModelWriter().Input("input", OnnxElementType.Float, "batch", 4).Output("output", OnnxElementType.Float, "batch", 3)
            .Initializer("w", Enumerable.Range(0, 12).Select(i => i / 12f).ToArray(), [4, 3]).Node("MatMul", ["input", "w"], ["output"], "scores", "").Save(source);

        Int8Rewrite? int8 = null;
        Rewrite(source, g => int8 = OnnxInt8Quantizer.Rewrite(g));
        Assert.Equal(0, int8!.WeightsQuantized);
        Assert.Equal(["MatMul 'scores': its weight 'w' has 12 values, fewer than 16"], int8.Skipped);
    }

    [Fact]
    public void Int8_dynamic_feeds_matmulinteger_uint8_weights_with_zero_point_128_or_int8_weights_within_63()
    {
        var source = Mlp("mlp-encodings.onnx");
        foreach (var encoding in new[] { Int8WeightEncoding.Default, new Int8WeightEncoding(Unsigned: false) })
        {
            var output = Rewrite(source, g => OnnxInt8Quantizer.Rewrite(g, encoding));
            var graph = OnnxGraph.Load(output);
            var matMuls = graph.Graph.Node.Where(n => n.OpType == "MatMulInteger").ToArray();
            Assert.Equal(3, matMuls.Length);
            foreach (var node in matMuls)
            {
                var weight = graph.Graph.Initializer.Single(t => t.Name == node.Input[1]);
                Assert.Equal((int)encoding.ElementType, weight.DataType);
                var values = weight.RawData.Select(b => encoding.Unsigned ? b - 128 : (sbyte)b).ToArray();
                Assert.Equal(encoding.Levels, values.Max(Math.Abs));
                if (encoding.Unsigned)
                {
                    // The weights' zero point, as MatMulInteger's fourth input.
                    Assert.Equal(4, node.Input.Count);
                    Assert.Equal(128, graph.Graph.Initializer.Single(t => t.Name == node.Input[3]).RawData.Single());
                }
                else
                {
                    Assert.Equal(3, node.Input.Count);
                }
            }

            var c = OnnxComparison.Compare(source, output, samples: 16, seed: 5, timedRuns: 1, CancellationToken.None);
            Assert.True(c.MeanAbsDiff / c.SourceMeanAbs < 0.05, $"{encoding}: relative mean diff {c.MeanAbsDiff / c.SourceMeanAbs}");
            Assert.True(c.Top1Agreement >= 0.9, $"{encoding}: top-1 agreement {c.Top1Agreement}");
        }
    }

    [Fact]
    public void Fp16_keeps_input_and_output_types_halves_the_file_and_passes_the_default_gate()
    {
        var source = Mlp("mlp16.onnx");
        Float16Rewrite? info = null;
        var output = Rewrite(source, g => info = OnnxFloat16Rewriter.Rewrite(g));

        Assert.Equal(5, info!.TensorsConverted); // 3 weights and the 2 biases of 16 values or more
        Assert.Equal(0, info.ValuesOverflowed);
        var read = OnnxModelReader.Read(output);
        Assert.Equal(OnnxElementType.Float, read.Inputs[0].Type);
        Assert.Equal(OnnxElementType.Float, read.Outputs[0].Type);
        Assert.True(new FileInfo(output).Length < new FileInfo(source).Length * 0.6);
        var c = OnnxComparison.Compare(source, output, samples: 8, seed: 1, timedRuns: 3, CancellationToken.None);
        Assert.True(c.MaxAbsDiff < 1e-2, $"max diff {c.MaxAbsDiff}");
        Assert.True(OptimizationGate.Evaluate(ModelFormat.Onnx, null, Metrics(c)).Passed);
    }

    [Fact]
    public void Fp16_of_weights_beyond_the_float16_range_is_rejected_by_the_gate()
    {
        var source = Mlp("overflow.onnx", scale: 1e6f, softmax: false);
        Float16Rewrite? info = null;
        var output = Rewrite(source, g => info = OnnxFloat16Rewriter.Rewrite(g));

        Assert.True(info!.ValuesOverflowed > 0);
        var c = OnnxComparison.Compare(source, output, samples: 4, seed: 1, timedRuns: 2, CancellationToken.None);
        Assert.True(c.NonFiniteValues > 0);
        var gate = OptimizationGate.Evaluate(ModelFormat.Onnx, new Dictionary<string, double> { ["max_abs_diff"] = 1 }, Metrics(c));
        Assert.False(gate.Passed);
        Assert.False(gate.Checks.Single(x => x.Name == "finite_outputs").Passed);
    }

    [Fact]
    public void Magnitude_pruning_zeroes_the_share_asked_for_and_the_compressed_file_shrinks()
    {
        var source = Mlp("prune.onnx");
        PruneRewrite? info = null;
        var output = Rewrite(source, g => info = OnnxMagnitudePruner.Rewrite(g, 0.5));

        Assert.Equal(3, info!.TensorsPruned);
        Assert.InRange((double)info.Zeroed / info.Weights, 0.49, 0.51);
        var weights = OnnxGraph.Load(output).Graph.Initializer.Where(t => t.Name.EndsWith(".weight", StringComparison.Ordinal)).SelectMany(OnnxGraph.Floats).ToArray();
        Assert.InRange(weights.Count(w => w == 0) / (double)weights.Length, 0.49, 0.51);
        var c = OnnxComparison.Compare(source, output, samples: 4, seed: 1, timedRuns: 2, CancellationToken.None);
        Assert.True(c.MaxAbsDiff > 0);
    }

    [Fact]
    public void Structured_pruning_removes_hidden_units_so_both_weights_shrink_and_the_model_still_runs()
    {
        var source = Mlp("structured.onnx");
        StructuredPruneRewrite? info = null;
        var output = Rewrite(source, g => info = OnnxStructuredPruner.Rewrite(g, 0.25));

        Assert.Equal(2, info!.LayersPruned); // 64 → 128 → 64 → 10: both hidden layers
        Assert.Equal(192, info.UnitsBefore);
        Assert.Equal(48, info.UnitsRemoved);
        var weights = OnnxGraph.Load(output).Graph.Initializer.ToDictionary(t => t.Name, t => t.Dims.ToArray());
        Assert.Equal([64L, 96], weights["fc0.weight"]);
        Assert.Equal([96L, 48], weights["fc1.weight"]);
        Assert.Equal([48L, 10], weights["fc2.weight"]);
        Assert.Equal([96L], weights["fc0.bias"]);
        Assert.True(new FileInfo(output).Length < new FileInfo(source).Length * 0.7);
        var c = OnnxComparison.Compare(source, output, samples: 4, seed: 1, timedRuns: 2, CancellationToken.None);
        Assert.Equal(0, c.NonFiniteValues);
        Assert.True(c.MaxAbsDiff > 0);
    }

    [Fact]
    public void Structured_pruning_of_gemm_layers_with_transposed_weights_removes_the_units_that_carry_nothing()
    {
        // The ggml trainer's form: Gemm with transB (weights [units, inputs]). Hidden units 0, 4, ..., 28 have no
        // outgoing weight, so removing them (a quarter of 32) must leave the outputs as they were.
        var random = new Random(5);
        float[] Values(int count) => Enumerable.Range(0, count).Select(_ => (random.NextSingle() * 2) - 1).ToArray();
        var w1 = Values(4 * 32);
        for (var row = 0; row < 4; row++)
        {
            for (var unit = 0; unit < 32; unit += 4)
            {
                w1[(row * 32) + unit] = 0;
            }
        }

        var source = Path.Combine(_folder, "gemm.onnx");
        new OnnxModelWriter("gemm")
            .Input("input", OnnxElementType.Float, OnnxDimension.Symbolic("N"), OnnxDimension.Fixed(16))
            .Output("output", OnnxElementType.Float, OnnxDimension.Symbolic("N"), OnnxDimension.Fixed(4))
            .Initializer("l0.weight", Values(32 * 16), [32, 16])
            .Initializer("l0.bias", Values(32), [32])
            .Initializer("l1.weight", w1, [4, 32])
            .Initializer("l1.bias", Values(4), [4])
            .Node("Gemm", ["input", "l0.weight", "l0.bias"], ["hidden"], OnnxAttribute.Int("transB", 1))
            .Node("Relu", ["hidden"], ["relu"])
            .Node("Gemm", ["relu", "l1.weight", "l1.bias"], ["output"], OnnxAttribute.Int("transB", 1))
            .Save(source);
        StructuredPruneRewrite? info = null;
        var output = Rewrite(source, g => info = OnnxStructuredPruner.Rewrite(g, 0.25));

        Assert.Equal(1, info!.LayersPruned);
        Assert.Equal(8, info.UnitsRemoved);
        var weights = OnnxGraph.Load(output).Graph.Initializer.ToDictionary(t => t.Name, t => t.Dims.ToArray());
        Assert.Equal([24L, 16], weights["l0.weight"]);
        Assert.Equal([24L], weights["l0.bias"]);
        Assert.Equal([4L, 24], weights["l1.weight"]);
        var kept = OnnxGraph.Floats(OnnxGraph.Load(output).Graph.Initializer.Single(t => t.Name == "l1.weight"));
        Assert.DoesNotContain(0f, kept);
        var c = OnnxComparison.Compare(source, output, samples: 8, seed: 1, timedRuns: 2, CancellationToken.None);
        Assert.True(c.MaxAbsDiff < 1e-5, $"max diff {c.MaxAbsDiff}");
    }

    [Theory]
    [InlineData("trainer")]
    [InlineData("pytorch")]
    public void Structured_pruning_reaches_through_a_written_out_gelu_and_dropout_between_the_dense_layers(string exporter)
    {
        // As the transposed test above, with GELU written out in nodes and a dropout between the layers: the ggml
        // trainer's export (sigmoid-form GELU, dropout as Identity) or PyTorch's (erf GELU, an inference Dropout).
        var random = new Random(6);
        float[] Values(int count) => Enumerable.Range(0, count).Select(_ => (random.NextSingle() * 2) - 1).ToArray();
        var w1 = Values(4 * 32);
        for (var row = 0; row < 4; row++)
        {
            for (var unit = 1; unit < 32; unit += 4)
            {
                w1[(row * 32) + unit] = 0;
            }
        }

        var source = Path.Combine(_folder, $"gelu-{exporter}.onnx");
        var writer = new OnnxModelWriter("gelu")
            .Input("input", OnnxElementType.Float, OnnxDimension.Symbolic("N"), OnnxDimension.Fixed(16))
            .Output("output", OnnxElementType.Float, OnnxDimension.Symbolic("N"), OnnxDimension.Fixed(4))
            .Initializer("l0.weight", Values(32 * 16), [32, 16])
            .Initializer("l0.bias", Values(32), [32])
            .Initializer("l1.weight", w1, [4, 32])
            .Initializer("l1.bias", Values(4), [4])
            .Node("Gemm", ["input", "l0.weight", "l0.bias"], ["hidden"], OnnxAttribute.Int("transB", 1));
        if (exporter == "trainer")
        {
            writer.Initializer("cubic", [0.044715f], []).Initializer("scale", [1.5957691216057308f], [])
                .Node("Mul", ["hidden", "hidden"], ["sq"]).Node("Mul", ["sq", "hidden"], ["cube"]).Node("Mul", ["cube", "cubic"], ["cubic_term"])
                .Node("Add", ["hidden", "cubic_term"], ["inner"]).Node("Mul", ["inner", "scale"], ["scaled"]).Node("Sigmoid", ["scaled"], ["gate"])
                .Node("Mul", ["hidden", "gate"], ["activated"])
                .Node("Identity", ["activated"], ["dropped"]);
        }
        else
        {
            writer.Initializer("sqrt2", [MathF.Sqrt(2)], []).Initializer("one", [1f], []).Initializer("half", [0.5f], []).Initializer("ratio", [0.1f], [])
                .Node("Div", ["hidden", "sqrt2"], ["scaled"]).Node("Erf", ["scaled"], ["erf"]).Node("Add", ["erf", "one"], ["plus1"])
                .Node("Mul", ["hidden", "plus1"], ["times"]).Node("Mul", ["times", "half"], ["activated"])
                .Node("Dropout", ["activated", "ratio"], ["dropped", "mask"]);
        }

        writer.Node("Gemm", ["dropped", "l1.weight", "l1.bias"], ["output"], OnnxAttribute.Int("transB", 1)).Save(source);
        StructuredPruneRewrite? info = null;
        var output = Rewrite(source, g => info = OnnxStructuredPruner.Rewrite(g, 0.25));

        Assert.Equal(1, info!.LayersPruned);
        Assert.Equal(8, info.UnitsRemoved);
        var weights = OnnxGraph.Load(output).Graph.Initializer.ToDictionary(t => t.Name, t => t.Dims.ToArray());
        Assert.Equal([24L, 16], weights["l0.weight"]);
        Assert.Equal([4L, 24], weights["l1.weight"]);
        var c = OnnxComparison.Compare(source, output, samples: 8, seed: 1, timedRuns: 2, CancellationToken.None);
        Assert.True(c.MaxAbsDiff < 1e-5, $"max diff {c.MaxAbsDiff}");

        // A GELU's value read outside the block (here: also a graph output) is not a chain to prune.
        var branched = OnnxGraph.Load(source);
        branched.Graph.Output.Add(new Maas.Core.Formats.Onnx.Proto.ValueInfoProto { Name = exporter == "trainer" ? "gate" : "erf" });
        Assert.Equal(0, OnnxStructuredPruner.Rewrite(branched, 0.25).LayersPruned);
    }

    [Fact]
    public void Folding_batch_norms_into_convs_keeps_what_the_model_computes()
    {
        var random = new Random(9);
        float[] Values(int count, float low, float high) => Enumerable.Range(0, count).Select(_ => low + (random.NextSingle() * (high - low))).ToArray();
        var source = Path.Combine(_folder, "conv-bn.onnx");
        new OnnxModelWriter("convbn")
            .Input("input", OnnxElementType.Float, OnnxDimension.Symbolic("N"), OnnxDimension.Fixed(3), OnnxDimension.Fixed(8), OnnxDimension.Fixed(8))
            .Output("output", OnnxElementType.Float, OnnxDimension.Symbolic("N"), OnnxDimension.Fixed(6), OnnxDimension.Fixed(8), OnnxDimension.Fixed(8))
            .Initializer("conv.weight", Values(6 * 3 * 9, -0.5f, 0.5f), [6, 3, 3, 3])
            .Initializer("bn.scale", Values(6, 0.5f, 2f), [6])
            .Initializer("bn.shift", Values(6, -1f, 1f), [6])
            .Initializer("bn.mean", Values(6, -0.5f, 0.5f), [6])
            .Initializer("bn.var", Values(6, 0.1f, 2f), [6])
            .Node("Conv", ["input", "conv.weight"], ["conv"], OnnxAttribute.Ints("pads", 1, 1, 1, 1), OnnxAttribute.Ints("kernel_shape", 3, 3))
            .Node("BatchNormalization", ["conv", "bn.scale", "bn.shift", "bn.mean", "bn.var"], ["bn"], OnnxAttribute.Float("epsilon", 1e-3f))
            .Node("Relu", ["bn"], ["output"])
            .Save(source);
        var folded = 0;
        var output = Rewrite(source, g => folded = OnnxBatchNormFolder.Fold(g));

        Assert.Equal(1, folded);
        var graph = OnnxGraph.Load(output);
        Assert.Equal(["Conv", "Relu"], graph.Graph.Node.Select(n => n.OpType));
        Assert.DoesNotContain(graph.Graph.Initializer, t => t.Name.StartsWith("bn.", StringComparison.Ordinal));
        var c = OnnxComparison.Compare(source, output, samples: 4, seed: 1, timedRuns: 2, CancellationToken.None);
        Assert.True(c.MaxAbsDiff < 1e-4, $"max diff {c.MaxAbsDiff}");
    }

    [Fact]
    public void Int4_matmulnbits_of_a_generated_mlp_loads_in_onnx_runtime_and_stays_close()
    {
        var source = Mlp("int4.onnx");
        Int4Rewrite? info = null;
        var output = Rewrite(source, g => info = OnnxInt4Quantizer.Rewrite(g, 32));

        Assert.Equal(2, info!.MatMulsQuantized); // 64x128 and 128x64; 64x10 is below the size worth 4 bits
        Assert.True(new FileInfo(output).Length < new FileInfo(source).Length * 0.3, $"{new FileInfo(output).Length} vs {new FileInfo(source).Length}");
        var c = OnnxComparison.Compare(source, output, samples: 16, seed: 5, timedRuns: 3, CancellationToken.None);
        Assert.Equal(0, c.NonFiniteValues);
        Assert.True(c.MeanAbsDiff / c.SourceMeanAbs < 0.1, $"relative mean diff {c.MeanAbsDiff / c.SourceMeanAbs}");
        Assert.True(c.MaxAbsDiff > 0);
    }

    [Fact]
    public void Onnx_runtime_graph_optimisation_saves_a_model_that_loads_and_answers_the_same()
    {
        var source = Mlp("opt.onnx");
        var output = Path.Combine(_folder, "opt-extended.onnx");

        OnnxGraphOptimizer.Optimize(source, output, "extended");

        OnnxModelReader.Read(output);
        var c = OnnxComparison.Compare(source, output, samples: 4, seed: 1, timedRuns: 2, CancellationToken.None);
        Assert.True(c.MaxAbsDiff < 1e-4, $"max diff {c.MaxAbsDiff}");
    }

    [SharedModelFact("ultraface-rfb-320.onnx")]
    public void UltraFace_int8_dynamic_still_loads_and_its_outputs_are_close()
    {
        var source = SharedModels.PathOf("ultraface-rfb-320.onnx");
        Int8Rewrite? info = null;
        var output = Rewrite(source, g => info = OnnxInt8Quantizer.Rewrite(g));

        Assert.True(info!.ConvsQuantized + info.MatMulsQuantized + info.GemmsQuantized > 0, string.Join("; ", info.Skipped));
        using (OnnxSession.Open(output))
        {
        }

        var c = OnnxComparison.Compare(source, output, samples: 2, seed: 1, timedRuns: 2, CancellationToken.None);
        Assert.Equal(0, c.NonFiniteValues);
        Assert.True(c.MeanAbsDiff / c.SourceMeanAbs < 0.05, $"relative mean diff {c.MeanAbsDiff / c.SourceMeanAbs}, max {c.MaxAbsDiff}");
        Assert.True(new FileInfo(output).Length < new FileInfo(source).Length * 0.5, $"{new FileInfo(output).Length} vs {new FileInfo(source).Length}");
    }

    private static Dictionary<string, double?> Metrics(OnnxComparisonResult c) => new()
    {
        ["max_abs_diff"] = c.MaxAbsDiff,
        ["mean_abs_diff"] = c.MeanAbsDiff,
        ["relative_mean_abs_diff"] = c.SourceMeanAbs > 0 ? c.MeanAbsDiff / c.SourceMeanAbs : c.MeanAbsDiff,
        ["nonfinite_values"] = c.NonFiniteValues,
        ["top1_agreement"] = c.Top1Agreement,
    };
}
