using Maas.Core.Formats;
using Maas.Core.Formats.Onnx;
using Maas.Optimization.Onnx;
using Maas.Runtimes.Onnx;

namespace Maas.Optimization.Tests;

/// <summary>A fact that needs an x86-64 CPU with AVX2, where ONNX Runtime's layout level writes NCHWc operators.</summary>
public sealed class X86VectorFactAttribute : FactAttribute
{
    /// <summary>Skipped, saying why, on CPUs without AVX2.</summary>
    public X86VectorFactAttribute()
    {
        if (!System.Runtime.Intrinsics.X86.Avx2.IsSupported)
        {
            Skip = "needs an x86-64 CPU with AVX2: elsewhere ONNX Runtime writes no NCHWc operators to refuse";
        }
    }
}

/// <summary>What the job measures besides the outputs (batch throughput), the gate's throughput and accuracy checks, and the layout level of ONNX Runtime's optimiser.</summary>
public sealed class OnnxMeasurementTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("maas-opt-measure-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    private string Save(OnnxModelWriter model, string name)
    {
        var path = Path.Combine(_folder, name);
        model.Save(path);
        return path;
    }

    [Fact]
    public void Throughput_is_measured_at_the_batch_asked_for_when_the_batch_dimension_is_open()
    {
        var source = Save(OnnxModelWriter.Mlp(64, [256, 128], 10, seed: 3, softmax: true), "mlp.onnx");
        var output = Path.Combine(_folder, "mlp-int8.onnx");
        var graph = OnnxGraph.Load(source);
        OnnxInt8Quantizer.Rewrite(graph);
        graph.Save(output);

        var c = OnnxComparison.Compare(source, output, samples: 4, seed: 1, timedRuns: 5, CancellationToken.None, batch: 32);

        Assert.Equal(32, c.ThroughputBatch);
        Assert.Null(c.ThroughputNote);
        foreach (var (throughput, p50) in new[] { (c.SourceThroughputPerSecond, c.SourceLatencyP50Ms), (c.ThroughputPerSecond, c.LatencyP50Ms) })
        {
            // Items per second at batch 32 against calls per second at batch 1: a batch is neither 32 times faster per
            // item than one call nor 20 times slower (generous bounds: the machine is shared), and never 0 or infinite.
            var single = 1000 / p50;
            Assert.True(double.IsFinite(throughput) && throughput > single / 20 && throughput < single * 32 * 4,
                $"{throughput:0} items/s at batch 32 against {single:0} calls/s at batch 1");
        }
    }

    [Fact]
    public void Throughput_of_a_model_with_a_fixed_batch_is_at_batch_1_and_says_why()
    {
        var model = new OnnxModelWriter("fixed")
            .Input("input", OnnxElementType.Float, OnnxDimension.Fixed(1), OnnxDimension.Fixed(4))
            .Output("output", OnnxElementType.Float, OnnxDimension.Fixed(1), OnnxDimension.Fixed(4))
            .Node("Relu", ["input"], ["output"]);
        var source = Save(model, "fixed.onnx");

        var c = OnnxComparison.Compare(source, source, samples: 2, seed: 1, timedRuns: 3, CancellationToken.None, batch: 16);

        Assert.Equal(1, c.ThroughputBatch);
        Assert.Contains("fixed", c.ThroughputNote, StringComparison.Ordinal);
        Assert.Equal(1000 / c.LatencyP50Ms, c.ThroughputPerSecond, 6);
    }

    [Fact]
    public void The_gate_holds_throughput_and_accuracy_to_their_thresholds_and_an_evaluated_rewrite_keeps_the_output_checks()
    {
        var metrics = new Dictionary<string, double?>
        {
            ["nonfinite_values"] = 0,
            ["relative_mean_abs_diff"] = 0.01,
            ["top1_agreement"] = 1,
            ["throughput_ratio"] = 1.2,
            ["accuracy_drop"] = 0.02
        };

        var untrained = OptimizationGate.Evaluate(ModelFormat.Onnx, null, metrics);
        Assert.False(untrained.Passed);
        Assert.Equal(["finite_outputs", "max_relative_mean_abs_diff", "min_top1_agreement", "max_accuracy_drop"], untrained.Checks.Select(c => c.Name));
        Assert.False(untrained.Checks.Single(c => c.Name == "max_accuracy_drop").Passed);
        Assert.Equal(["finite_outputs", "max_accuracy_drop"], OptimizationGate.Evaluate(ModelFormat.Onnx, null, metrics, trained: true).Checks.Select(c => c.Name));

        Assert.True(OptimizationGate.Evaluate(ModelFormat.Onnx, new Dictionary<string, double> { ["min_throughput_ratio"] = 1.1 }, metrics).Passed);
        var slow = OptimizationGate.Evaluate(ModelFormat.Onnx, new Dictionary<string, double> { ["min_throughput_ratio"] = 1.5, ["max_accuracy_drop"] = 0.05 }, metrics);
        Assert.False(slow.Passed);
        Assert.Equal([true, false, true], slow.Checks.Select(c => c.Passed));
    }

    [X86VectorFact]
    public void Operators_laid_out_for_this_cpu_are_found_inside_subgraphs_too()
    {
        // ONNX Runtime optimises the branches of If and the bodies of Loop as well: a layout operator in a branch ties
        // the file to this CPU as much as one in the main graph.
        var source = Save(Maas.Testing.ConvModels.BlockedConvNet(), "blocked-branch.onnx");
        var all = Path.Combine(_folder, "blocked-branch-all.onnx");
        OnnxGraphOptimizer.Optimize(source, all, "all");
        var graph = OnnxGraph.Load(all);
        var inMain = OnnxGraphOptimizer.MachineSpecificNodes(all);
        Assert.True(inMain > 0);

        // The same nodes moved into the then-branch of an If: the main graph then holds none of them.
        var branch = new Maas.Core.Formats.Onnx.Proto.GraphProto { Name = "then" };
        branch.Node.Add(graph.Graph.Node);
        branch.Output.Add(graph.Graph.Output);
        var wrapper = new Maas.Core.Formats.Onnx.Proto.NodeProto { OpType = "If", Name = "wrap" };
        wrapper.Input.Add("cond");
        wrapper.Output.Add(graph.Graph.Output.Select(o => o.Name));
        wrapper.Attribute.Add(new Maas.Core.Formats.Onnx.Proto.AttributeProto { Name = "then_branch", Type = Maas.Core.Formats.Onnx.Proto.AttributeType.Graph, G = branch });
        graph.Graph.Node.Clear();
        graph.Graph.Node.Add(wrapper);
        var wrapped = Path.Combine(_folder, "blocked-branch-wrapped.onnx");
        graph.Save(wrapped);

        Assert.DoesNotContain(OnnxGraph.Load(wrapped).Graph.Node, n => n.Domain == OnnxGraphOptimizer.LayoutDomain);
        Assert.Equal(inMain, OnnxGraphOptimizer.MachineSpecificNodes(wrapped));
    }

    [X86VectorFact]
    public void The_all_level_writes_operators_laid_out_for_this_cpu_and_extended_writes_none()
    {
        var source = Save(Maas.Testing.ConvModels.BlockedConvNet(), "blocked.onnx");
        var extended = Path.Combine(_folder, "blocked-extended.onnx");
        var all = Path.Combine(_folder, "blocked-all.onnx");

        OnnxGraphOptimizer.Optimize(source, extended, "extended");
        OnnxGraphOptimizer.Optimize(source, all, "all");

        Assert.Equal(0, OnnxGraphOptimizer.MachineSpecificNodes(extended));
        Assert.True(OnnxGraphOptimizer.MachineSpecificNodes(all) > 0, string.Join(", ", OnnxGraph.Load(all).Graph.Node.Select(n => $"{n.Domain}:{n.OpType}")));
        Assert.Contains("avx2", OnnxGraphOptimizer.CpuFeatures());
        OnnxModelReader.Read(all);
        var c = OnnxComparison.Compare(source, all, samples: 2, seed: 1, timedRuns: 2, CancellationToken.None);
        Assert.True(c.MaxAbsDiff < 1e-4, $"max diff {c.MaxAbsDiff}");
    }
}
