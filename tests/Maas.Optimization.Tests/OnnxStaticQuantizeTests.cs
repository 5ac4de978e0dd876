using Maas.Core.Formats.Onnx;
using Maas.Optimization.Onnx;
using Maas.Runtimes.Onnx;

namespace Maas.Optimization.Tests;

/// <summary>Static QDQ int8: activation ranges calibrated by running the float model on ONNX Runtime, then QDQ pairs inserted by MaaS's rewriter.</summary>
public sealed class OnnxStaticQuantizeTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("maas-opt-static-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    private string Mlp(bool softmax = true)
    {
        var path = Path.Combine(_folder, softmax ? "mlp.onnx" : "mlp-logits.onnx");
        OnnxModelWriter.Mlp(DenseLayer.RandomStack(64, [128, 64], 10, 3), softmax: softmax).Save(path);
        return path;
    }

    // Rows of 64 values uniform in [-1, 1]; the outlier rows hold a few values of 1000.
    private static float[][] Rows(int count, int seed, int outlierRows = 0)
    {
        var random = new Random(seed);
        var rows = Enumerable.Range(0, count).Select(_ => Enumerable.Range(0, 64).Select(_ => (float)((random.NextDouble() * 2) - 1)).ToArray()).ToArray();
        for (var r = 0; r < outlierRows; r++)
        {
            rows[r * 7][r] = 1000;
            rows[r * 7][63 - r] = -1000;
        }

        return rows;
    }

    private static IEnumerable<KeyValuePair<string, OnnxTensor>[]> Feeds(float[][] rows) =>
        rows.Select(r => new[] { new KeyValuePair<string, OnnxTensor>("input", OnnxTensor.Create(r, 1, 64)) });

    private (string Path, StaticInt8Rewrite Info,
        IReadOnlyDictionary<string, ActivationRange> Ranges) Quantize(string source, float[][] rows, CalibrationMethod method, double percentile, string name)
    {
        var graph = OnnxGraph.Load(source);
        var ranges = OnnxCalibrator.Collect(source, OnnxStaticQuantizer.Activations(graph), Feeds(rows), method, percentile, CancellationToken.None);
        var info = OnnxStaticQuantizer.Rewrite(graph, ranges);
        var output = Path.Combine(_folder, name);
        graph.Save(output);
        OnnxModelReader.Read(output); // MaaS's own validation of uploads.
        return (output, info, ranges);
    }

    private static OnnxComparisonResult CompareOn(string source, string candidate, float[][] rows) =>
        OnnxComparison.Compare(source, candidate, rows.Length, seed: 1, timedRuns: 2, CancellationToken.None, s => [OnnxTensor.Create(rows[s], 1, 64)]);

    [Fact]
    public void Weights_are_uint8_around_128_by_default_and_int8_within_63_unless_the_range_is_full()
    {
        var source = Mlp();
        var rows = Rows(64, seed: 5);
        var check = Rows(32, seed: 9);
        foreach (var (encoding, type, low, high) in new[]
        {
            (Int8WeightEncoding.Default, OnnxElementType.UInt8, 1, 255),
            (new Int8WeightEncoding(Unsigned: false), OnnxElementType.Int8, -63, 63),
            (new Int8WeightEncoding(Unsigned: false, ReduceRange: false), OnnxElementType.Int8, -127, 127),
        })
        {
            var graph = OnnxGraph.Load(source);
            var ranges = OnnxCalibrator.Collect(source, OnnxStaticQuantizer.Activations(graph), Feeds(rows), CalibrationMethod.MinMax, 100, CancellationToken.None);
            OnnxStaticQuantizer.Rewrite(graph, ranges, encoding);
            var output = Path.Combine(_folder, $"static-{encoding.Name}-{encoding.Levels}.onnx");
            graph.Save(output);
            OnnxModelReader.Read(output);

            var read = OnnxGraph.Load(output);
            var weights = read.Graph.Initializer.Where(t => t.Dims.Count == 2).ToArray();
            Assert.Equal(3, weights.Length);
            Assert.All(weights, w => Assert.Equal((int)type, w.DataType));
            var values = weights.SelectMany(w => type == OnnxElementType.UInt8 ? w.RawData.Select(b => (int)b) : w.RawData.Select(b => (int)(sbyte)b)).ToArray();
            Assert.Equal(low, values.Min()); // each column's largest weight lands on the end of the range
            Assert.Equal(high, values.Max());
            var weightNames = weights.Select(w => w.Name).ToHashSet(StringComparer.Ordinal);
            var zeroPoints = read.Graph.Node.Where(n => n.OpType == "DequantizeLinear" && weightNames.Contains(n.Input[0]))
                .Select(n => read.Graph.Initializer.Single(t => t.Name == n.Input[2])).ToArray();
            Assert.Equal(3, zeroPoints.Length);
            Assert.All(zeroPoints, z => Assert.Equal((int)type, z.DataType));
            Assert.All(zeroPoints, z => Assert.All(z.RawData, b => Assert.Equal(type == OnnxElementType.UInt8 ? 128 : 0, b)));

            // uint8 (uint8 x uint8 kernels) and 7-bit int8 are exact on every CPU; full-range int8 saturates on CPUs without
            // VNNI, so its accuracy is only held where the machine does not saturate (not asserted here).
            if (encoding.Unsigned || encoding.ReduceRange)
            {
                var c = CompareOn(source, output, check);
                Assert.True(c.MeanAbsDiff / c.SourceMeanAbs < 0.05, $"{encoding}: relative mean diff {c.MeanAbsDiff / c.SourceMeanAbs}");
                Assert.True(c.Top1Agreement >= 0.9, $"{encoding}: top-1 agreement {c.Top1Agreement}");
            }
        }
    }

    [Fact]
    public void Min_max_static_int8_of_a_generated_mlp_has_qdq_pairs_is_smaller_and_within_tolerance()
    {
        var source = Mlp();
        var rows = Rows(64, seed: 5);

        var (output, info, ranges) = Quantize(source, rows, CalibrationMethod.MinMax, 100, "static.onnx");

        Assert.Equal(3, info.MatMulsQuantized);
        Assert.Equal(3, info.ActivationsQuantized); // the input and both ReLU outputs
        Assert.Equal(9, info.QdqNodes); // a Q and a DQ per activation, a DQ per weight
        Assert.True(info.PerChannel);
        var read = OnnxGraph.Load(output);
        Assert.Equal(3, read.Graph.Node.Count(n => n.OpType == "QuantizeLinear"));
        Assert.Equal(6, read.Graph.Node.Count(n => n.OpType == "DequantizeLinear"));
        Assert.Equal(3, read.Graph.Initializer.Count(t => t.DataType == (int)OnnxElementType.UInt8 && t.Dims.Count == 2)); // uint8 weights by default
        Assert.InRange(ranges["input"].Max, 0.9f, 1f);
        Assert.InRange(ranges["input"].Min, -1f, -0.9f);
        Assert.True(ranges["fc0.relu"].Min >= 0, "a ReLU output is never negative");
        Assert.True(new FileInfo(output).Length < new FileInfo(source).Length * 0.4, $"{new FileInfo(output).Length} vs {new FileInfo(source).Length}");

        var c = CompareOn(source, output, Rows(32, seed: 9));
        Assert.Equal(0, c.NonFiniteValues);
        Assert.True(c.MaxAbsDiff > 0, "int8 must change the outputs at least a little");
        Assert.True(c.MeanAbsDiff / c.SourceMeanAbs < 0.05, $"relative mean diff {c.MeanAbsDiff / c.SourceMeanAbs}");
        Assert.True(c.Top1Agreement >= 0.9, $"top-1 agreement {c.Top1Agreement}");
    }

    [Fact]
    public void Percentile_calibration_clips_outliers_that_min_max_keeps_and_is_closer_on_ordinary_rows()
    {
        var source = Mlp(softmax: false); // logits: a softmax would squash the differences
        var rows = Rows(400, seed: 7, outlierRows: 1); // outliers in 2 of 25600 input values, 1 row in 400 of the hidden ones

        var (minMax, _, minMaxRanges) = Quantize(source, rows, CalibrationMethod.MinMax, 100, "minmax.onnx");
        var (percentile, _, percentileRanges) = Quantize(source, rows, CalibrationMethod.Percentile, 99.5, "percentile.onnx");

        Assert.Equal(1000, minMaxRanges["input"].Max);
        Assert.Equal(-1000, minMaxRanges["input"].Min);
        Assert.InRange(percentileRanges["input"].Max, 0.9f, 1.1f);
        Assert.InRange(percentileRanges["input"].Min, -1.1f, -0.9f);
        var (minMaxScale, _) = OnnxStaticQuantizer.Uint8(minMaxRanges["input"]);
        var (percentileScale, _) = OnnxStaticQuantizer.Uint8(percentileRanges["input"]);
        Assert.True(percentileScale * 100 < minMaxScale, $"{percentileScale} vs {minMaxScale}");

        // On rows like the ordinary ones, the steps min-max wasted on the outliers cost accuracy.
        var ordinary = Rows(32, seed: 11);
        var a = CompareOn(source, minMax, ordinary);
        var b = CompareOn(source, percentile, ordinary);
        Assert.True(b.MeanAbsDiff < a.MeanAbsDiff / 3, $"percentile {b.MeanAbsDiff} vs min-max {a.MeanAbsDiff} (source mean {a.SourceMeanAbs})");
        Assert.True(b.MeanAbsDiff / b.SourceMeanAbs < 0.05, $"percentile relative mean diff {b.MeanAbsDiff / b.SourceMeanAbs}");
    }

    [Fact]
    public void An_opset_9_model_upgraded_to_13_computes_the_same_outputs()
    {
        // Opset-9 forms: Slice, Unsqueeze, Squeeze and Clip take attributes; Softmax at axis 1 of a rank-3 tensor is over
        // the flattened last two dimensions, which opset 13's single-axis Softmax would not be.
        var source = Path.Combine(_folder, "opset9.onnx");
        var batch = OnnxDimension.Symbolic("batch");
        new OnnxModelWriter("old", opset: 9, irVersion: 4)
            .Input("input", OnnxElementType.Float, batch, OnnxDimension.Fixed(4), OnnxDimension.Fixed(6))
            .Output("output", OnnxElementType.Float, batch, OnnxDimension.Fixed(4), OnnxDimension.Fixed(4))
            .Node("Slice", ["input"], ["sliced"], OnnxAttribute.Ints("starts", 1), OnnxAttribute.Ints("ends", 5), OnnxAttribute.Ints("axes", 2))
            .Node("Unsqueeze", ["sliced"], ["wide"], OnnxAttribute.Ints("axes", 1))
            .Node("Squeeze", ["wide"], ["narrow"], OnnxAttribute.Ints("axes", 1))
            .Node("Clip", ["narrow"], ["clipped"], OnnxAttribute.Float("min", -0.5f), OnnxAttribute.Float("max", 0.5f))
            .Node("Softmax", ["clipped"], ["output"], OnnxAttribute.Int("axis", 1))
            .Save(source);

        var graph = OnnxGraph.Load(source);
        Assert.Empty(OnnxOpsetUpgrader.Blocking(graph));
        Assert.Equal(5, OnnxOpsetUpgrader.Upgrade(graph));
        var output = Path.Combine(_folder, "opset13.onnx");
        graph.Save(output);

        Assert.Equal(13, OnnxGraph.Load(output).Opset);
        var c = OnnxComparison.Compare(source, output, samples: 4, seed: 3, timedRuns: 1, CancellationToken.None);
        Assert.True(c.MaxAbsDiff < 1e-6, $"max diff {c.MaxAbsDiff}");
        Assert.True(c.SourceMeanAbs is > 0.01 and < 0.2, $"the softmax spreads over 16 values: mean {c.SourceMeanAbs}");
    }

    [Fact]
    public void The_range_collector_finds_percentiles_to_about_one_percent_whatever_the_spread()
    {
        var collector = new OnnxCalibrator.RangeCollector();
        collector.Add(Enumerable.Range(0, 1000).Select(i => i / 1000f).ToArray());
        collector.Add(Enumerable.Range(0, 1000).Select(i => i / 100f).ToArray());
        collector.Add([1e6f]);

        var p50 = collector.Range(CalibrationMethod.Percentile, 50);
        var full = collector.Range(CalibrationMethod.MinMax, 100);

        Assert.Equal(0, full.Min);
        Assert.Equal(1e6f, full.Max);
        Assert.InRange(p50.Max, 0.909f, 0.92f); // the 1001st smallest of the 2001 values: 1000 below 1 in the first set, 100 in the second, so 1100 x = 1000
        Assert.Equal(0, p50.Min);
    }
}
