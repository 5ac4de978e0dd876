using System.Globalization;
using System.Text;
using Maas.Core.Formats.Gguf;
using Maas.Core.Formats.Onnx;
using Maas.Optimization.Gguf;
using Maas.Optimization.Onnx;
using Maas.Runtimes.Llama;
using Maas.Runtimes.Onnx;

// Usage: dotnet run -c Release --project bench/Maas.Bench.Optimization [shared models folder] [output.md] [--onnx-only]
//        dotnet run -c Release --project bench/Maas.Bench.Optimization -- --vs-llama-quantize <llama-quantize> [--also LABEL=PATH]... [output.md]
//        dotnet run -c Release --project bench/Maas.Bench.Optimization -- --write-llama <path.gguf>   (that comparison's source model)
//        (llama-quantize from `TARGET=llama-quantize bench/llama-server/build.sh`, the same llama.cpp source as MaaS's engine)
// Each rewrite is compared with its source in the same process: sizes, p50 latency at batch 1 and items per second
// at batch 16 where the batch dimension is open (interleaved, one thread each), output differences on seeded sample inputs; GGUF perplexity on the built-in passage and tokens/s.
if (args.Length > 1 && args[0] == "--write-llama")
{
    // The generated Llama the comparison quantises, for profiling the tools on their own.
    LlamaQuantizeComparison.WriteSource(args[1]);
    return;
}

if (args.Length > 1 && args[0] == "--vs-llama-quantize")
{
    // More tools to time beside it: --also LABEL=PATH (a generic build, a probe linked against MaaS's own library).
    var tools = new List<(string Label, string Path)> { ("llama-quantize", args[1]) };
    for (var i = 2; i + 1 < args.Length && args[i] == "--also"; i += 2)
    {
        var eq = args[i + 1].IndexOf('=', StringComparison.Ordinal);
        tools.Add((args[i + 1][..eq], args[i + 1][(eq + 1)..]));
    }

    var rest = args.Skip(2 + (2 * (tools.Count - 1))).ToArray();
    var table = LlamaQuantizeComparison.Run(tools, runs: 5, threads: 2);
    var path = rest.Length > 0 ? rest[0] : "bench/results/llama-quantize.md";
    Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
    File.WriteAllText(path, table);
    Console.WriteLine(table);
    return;
}

var onnxOnly = args.Contains("--onnx-only");
args = args.Where(a => a != "--onnx-only").ToArray();
var shared = args.Length > 0 ? args[0] : Path.GetFullPath(Path.Combine(AppContext.BaseDirectory, "../../../../../../shared/models"));
var outputPath = args.Length > 1 ? args[1] : "bench/results/optimisation.md";
var folder = Directory.CreateTempSubdirectory("maas-bench-opt-").FullName;
var text = new StringBuilder();
var invariant = CultureInfo.InvariantCulture;
const int ThroughputBatch = 16; // the job's default options.throughput_batch
string F(double v, string format = "0.###") => double.IsFinite(v) ? v.ToString(format, invariant) : "inf";

try
{
    text.AppendLine(invariant, $"Measured {DateTime.UtcNow:yyyy-MM-dd} on {Environment.ProcessorCount} cores, .NET {Environment.Version}, ONNX Runtime CPU, one intra-op thread " +
        $"per session; 200 interleaved timed calls at batch 1 and 200 at the throughput batch ({ThroughputBatch} where the batch dimension is open, else 1), " +
        $"16 seeded sample inputs.");
    text.AppendLine();
    text.AppendLine("| model | method | size bytes | size ratio | p50 ms (source) | p50 ms | throughput batch | items/s (source) | items/s | throughput ratio | max abs diff | " +
        "mean abs diff (relative) | top-1 agreement |");
    text.AppendLine("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    var mlp = Path.Combine(folder, "mlp.onnx");
    OnnxModelWriter.Mlp(512, [1024, 1024], 10, seed: 7, softmax: true).Save(mlp);
    var models = new List<(string Name, string Path)> { ("MLP 512-1024-1024-10", mlp) };
    if (File.Exists(Path.Combine(shared, "ultraface-rfb-320.onnx")))
    {
        models.Add(("UltraFace RFB-320", Path.Combine(shared, "ultraface-rfb-320.onnx")));
    }

    // Static int8 calibrates on inputs like the traffic and is compared on others of the same kind: seeded rows
    // uniform in [-1, 1] for the MLP (as the comparison's own samples), pictures made from the sample photo for UltraFace.
    var calibrationRandom = new Random(99);
    var mlpRows = Enumerable.Range(0, 64).Select(_ => Enumerable.Range(0, 512).Select(_ => (float)((calibrationRandom.NextDouble() * 2) - 1)).ToArray()).ToArray();
    var ultraFace = new List<(string Method, string Path)>();
    foreach (var (name, source) in models)
    {
        var pictures = name.StartsWith("UltraFace", StringComparison.Ordinal);
        foreach (var method in new[] { "onnx-fp16", "onnx-int8-dynamic", "onnx-int8-static minmax", "onnx-int4 32", "onnx-optimize extended", "prune-magnitude 0.5",
            "prune-structured 0.25" })
        {
            var output = Path.Combine(folder, $"{Path.GetFileNameWithoutExtension(source)}-{method.Replace(' ', '-')}.onnx");
            if (method.StartsWith("onnx-optimize", StringComparison.Ordinal))
            {
                OnnxGraphOptimizer.Optimize(source, output, "extended");
            }
            else
            {
                var graph = OnnxGraph.Load(source);
                var changed = method switch
                {
                    "onnx-int8-static minmax" => StaticInt8(source, graph, pictures
                        ? UltraFacePictures.Calibration(shared).Select(p => (p, UltraFacePictures.Layout.Shape(240, 320))).ToArray()
                        : mlpRows.Select(r => (r, new long[] { 1, 512 })).ToArray()),
                    "onnx-fp16" => OnnxFloat16Rewriter.Rewrite(graph).TensorsConverted,
                    "onnx-int8-dynamic" => OnnxInt8Quantizer.Rewrite(graph).WeightsQuantized,
                    "onnx-int4 32" => OnnxInt4Quantizer.Rewrite(graph, 32).MatMulsQuantized,
                    "prune-structured 0.25" => OnnxStructuredPruner.Rewrite(graph, 0.25).LayersPruned,
                    _ => OnnxMagnitudePruner.Rewrite(graph, 0.5).TensorsPruned,
                };
                if (changed == 0)
                {
                    // The job fails such a request with nothing_to_optimize; so does the table.
                    text.AppendLine(invariant, $"| {name} | {method} | nothing to rewrite | | | | | | | | | | |");
                    continue;
                }

                graph.Save(output);
            }

            var heldOut = pictures && method.StartsWith("onnx-int8-static", StringComparison.Ordinal) ? UltraFacePictures.HeldOut(shared) : null;
            var c = heldOut is null
                ? OnnxComparison.Compare(source, output, 16, 1234, 200, CancellationToken.None, batch: ThroughputBatch)
                : OnnxComparison.Compare(source, output, heldOut.Length, 1234, 200, CancellationToken.None, i => [OnnxTensor.Create(heldOut[i], 1, 3, 240, 320)], ThroughputBatch);
            if (pictures && method is "onnx-fp16" or "onnx-int8-dynamic" or "onnx-int8-static minmax")
            {
                ultraFace.Add((method, output));
            }

            var size = new FileInfo(output).Length;
            var sourceSize = new FileInfo(source).Length;
            text.AppendLine(invariant, $"| {name} | {method}{(heldOut is null ? "" : $" (compared on {heldOut.Length} held-out pictures)")} | {size} | " +
                $"{F((double)size / sourceSize)} | {F(c.SourceLatencyP50Ms, "0.000")} | {F(c.LatencyP50Ms, "0.000")} | {c.ThroughputBatch} | " +
                $"{F(c.SourceThroughputPerSecond, "0")} | {F(c.ThroughputPerSecond, "0")} | {F(c.ThroughputPerSecond / c.SourceThroughputPerSecond, "0.00")} | " +
                $"{F(c.MaxAbsDiff, "0.####E+0")} | {F(c.MeanAbsDiff, "0.####E+0")} ({F(c.MeanAbsDiff / c.SourceMeanAbs, "0.####")}) | {(c.Top1Agreement is { } t ? F(t) : "-")} |");
            Console.Error.WriteLine($"{name} {method} done");
        }
    }

    if (ultraFace.Count > 0)
    {
        // The faces themselves, on held-out pictures: what a detector's user sees.
        var source = models.First(m => m.Name.StartsWith("UltraFace", StringComparison.Ordinal)).Path;
        var heldOut = UltraFacePictures.HeldOut(shared);
        text.AppendLine();
        text.AppendLine(invariant, $"UltraFace on {heldOut.Length} held-out pictures made from the sample photo (as it is, brighter, a centre crop; calibration used the photo " +
            $"mirrored, darker and two corner crops): faces above 0.7 after suppression at IoU 0.3.");
        text.AppendLine();
        text.AppendLine("| method | p50 ms (source) | p50 ms | p50 ms (float reference, interleaved) | p50 ms (this, interleaved) | ratio to float | mean abs diff (relative) | " +
            "top-1 agreement | faces (source) | faces | source faces matched at IoU >= 0.9 | smallest IoU of a matched face |");
        text.AppendLine("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- | ---: | ---: |");

        // The source lists its weights as graph inputs, which keeps ONNX Runtime from treating them as constants; every
        // rewrite drops that, so the float model re-saved without it is the fair reference for latency.
        var reference = Path.Combine(folder, "ultraface-float-resaved.onnx");
        OnnxGraph.Load(source).Save(reference);
        foreach (var (method, output) in ultraFace.Prepend(("float, weights no longer inputs (reference)", reference)))
        {
            var c = OnnxComparison.Compare(source, output, heldOut.Length, 1234, 200, CancellationToken.None, i => [OnnxTensor.Create(heldOut[i], 1, 3, 240, 320)]);
            var faces = heldOut.Select(p => UltraFacePictures.Faces(source, output, p)).ToArray();

            // The speed that matters: against the float model without weight inputs, timed in turns in one run.
            var r = OnnxComparison.Compare(reference, output, heldOut.Length, 1234, 200, CancellationToken.None, i => [OnnxTensor.Create(heldOut[i], 1, 3, 240, 320)]);
            text.AppendLine(invariant, $"| {method} | {F(c.SourceLatencyP50Ms, "0.000")} | {F(c.LatencyP50Ms, "0.000")} | {F(r.SourceLatencyP50Ms, "0.000")} | " +
                $"{F(r.LatencyP50Ms, "0.000")} | {F(r.LatencyP50Ms / r.SourceLatencyP50Ms, "0.00")} | {F(c.MeanAbsDiff, "0.####E+0")} " +
                $"({F(c.MeanAbsDiff / c.SourceMeanAbs, "0.####")}) | {(c.Top1Agreement is { } t ? F(t) : "-")} | {string.Join(" / ", faces.Select(f => f.Source))} | " +
                $"{string.Join(" / ", faces.Select(f => f.Candidate))} | {faces.Sum(f => f.Matched)} of {faces.Sum(f => f.Source)} | " +
                $"{F(faces.Min(f => f.MinMatchedIou), "0.000")} |");
        }
    }

    if (onnxOnly)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(outputPath))!);
        File.WriteAllText(outputPath, text.ToString());
        Console.WriteLine(text);
        return;
    }

    text.AppendLine();
    text.AppendLine("| model | type | size bytes | size ratio | perplexity (source) | perplexity | prompt tok/s (source) | prompt tok/s | generation tok/s " +
        "(source) | generation tok/s |");
    text.AppendLine("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    var llama = Path.Combine(folder, "llama.gguf");
    LlamaQuantizeComparison.WriteSource(llama);
    var llms = new List<(string Name, string Path)> { ("generated Llama 512x4 (F32)", llama) };
    if (File.Exists(Path.Combine(shared, "llama-2-tiny-random.gguf")))
    {
        llms.Add(("llama-2-tiny-random", Path.Combine(shared, "llama-2-tiny-random.gguf")));
    }

    foreach (var (name, source) in llms)
    {
        var before = LlmMeasurement.Measure(source, HeldOutText.Passage, 2, CancellationToken.None);
        foreach (var type in new[] { "q8_0", "q6_k", "q4_k_m", "q4_0" })
        {
            var output = Path.Combine(folder, $"{Path.GetFileNameWithoutExtension(source)}-{type}.gguf");
            LlamaQuantizer.Quantize(source, output, new LlamaQuantizeOptions { FileType = GgufQuantTypes.ByName[type], Threads = 2, AllowRequantize = true });
            var after = LlmMeasurement.Measure(output, HeldOutText.Passage, 2, CancellationToken.None);
            var size = new FileInfo(output).Length;
            text.AppendLine(invariant, $"| {name} | {type} | {size} | {F((double)size / new FileInfo(source).Length)} | {F(before.Perplexity, "0.##")} | " +
                $"{F(after.Perplexity, "0.##")} | {F(before.PromptTokensPerSecond, "0")} | {F(after.PromptTokensPerSecond, "0")} | {F(before.GenerationTokensPerSecond, "0")} | " +
                $"{F(after.GenerationTokensPerSecond, "0")} |");
            Console.Error.WriteLine($"{name} {type} done");
        }
    }

    Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(outputPath))!);
    File.WriteAllText(outputPath, text.ToString());
    Console.WriteLine(text);
}
finally
{
    Directory.Delete(folder, recursive: true);
}

// Calibrates (min-max) on the given inputs and rewrites; the count of quantised operators.
static int StaticInt8(string source, OnnxGraph graph, (float[] Values, long[] Shape)[] inputs)
{
    var name = graph.Graph.Input[0].Name;
    var ranges = OnnxCalibrator.Collect(source, OnnxStaticQuantizer.Activations(graph),
        inputs.Select(i => new[] { new KeyValuePair<string, OnnxTensor>(name, OnnxTensor.Create(i.Values, i.Shape)) }), CalibrationMethod.MinMax, 100, CancellationToken.None);
    var q = OnnxStaticQuantizer.Rewrite(graph, ranges);
    return q.MatMulsQuantized + q.GemmsQuantized + q.ConvsQuantized;
}
