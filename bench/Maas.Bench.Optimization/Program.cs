using System.Globalization;
using System.Text;
using Maas.Core.Formats.Gguf;
using Maas.Core.Formats.Onnx;
using Maas.Optimization.Gguf;
using Maas.Optimization.Onnx;
using Maas.Runtimes.Llama;

// Usage: dotnet run -c Release --project bench/Maas.Bench.Optimization [shared models folder] [output.md]
//        dotnet run -c Release --project bench/Maas.Bench.Optimization -- --vs-llama-quantize <llama-quantize> [output.md]
//        (llama-quantize from `TARGET=llama-quantize bench/llama-server/build.sh`, the same llama.cpp source as MaaS's engine)
// Each rewrite is compared with its source in the same process: sizes, p50 latency at batch 1 (interleaved, one
// thread each), output differences on seeded sample inputs; GGUF perplexity on the built-in passage and tokens/s.
if (args.Length > 1 && args[0] == "--vs-llama-quantize")
{
    var table = LlamaQuantizeComparison.Run(args[1], runs: 5, threads: 2);
    var path = args.Length > 2 ? args[2] : "bench/results/llama-quantize.md";
    Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
    File.WriteAllText(path, table);
    Console.WriteLine(table);
    return;
}

var shared = args.Length > 0 ? args[0] : Path.GetFullPath(Path.Combine(AppContext.BaseDirectory, "../../../../../../shared/models"));
var outputPath = args.Length > 1 ? args[1] : "bench/results/optimisation.md";
var folder = Directory.CreateTempSubdirectory("maas-bench-opt-").FullName;
var text = new StringBuilder();
var invariant = CultureInfo.InvariantCulture;
string F(double v, string format = "0.###") => double.IsFinite(v) ? v.ToString(format, invariant) : "inf";

try
{
    text.AppendLine(invariant, $"Measured {DateTime.UtcNow:yyyy-MM-dd} on {Environment.ProcessorCount} cores, .NET {Environment.Version}, ONNX Runtime CPU, one intra-op thread per session; 200 interleaved timed calls, 16 seeded sample inputs.");
    text.AppendLine();
    text.AppendLine("| model | method | size bytes | size ratio | p50 ms (source) | p50 ms | max abs diff | mean abs diff (relative) | top-1 agreement |");
    text.AppendLine("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    var mlp = Path.Combine(folder, "mlp.onnx");
    OnnxModelWriter.Mlp(512, [1024, 1024], 10, seed: 7, softmax: true).Save(mlp);
    var models = new List<(string Name, string Path)> { ("MLP 512-1024-1024-10", mlp) };
    if (File.Exists(Path.Combine(shared, "ultraface-rfb-320.onnx")))
    {
        models.Add(("UltraFace RFB-320", Path.Combine(shared, "ultraface-rfb-320.onnx")));
    }

    foreach (var (name, source) in models)
    {
        foreach (var method in new[] { "onnx-fp16", "onnx-int8-dynamic", "onnx-int4 32", "onnx-optimize extended", "prune-magnitude 0.5", "prune-structured 0.25" })
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
                    "onnx-fp16" => OnnxFloat16Rewriter.Rewrite(graph).TensorsConverted,
                    "onnx-int8-dynamic" => OnnxInt8Quantizer.Rewrite(graph).WeightsQuantized,
                    "onnx-int4 32" => OnnxInt4Quantizer.Rewrite(graph, 32).MatMulsQuantized,
                    "prune-structured 0.25" => OnnxStructuredPruner.Rewrite(graph, 0.25).LayersPruned,
                    _ => OnnxMagnitudePruner.Rewrite(graph, 0.5).TensorsPruned,
                };
                if (changed == 0)
                {
                    // The job fails such a request with nothing_to_optimize; so does the table.
                    text.AppendLine(invariant, $"| {name} | {method} | nothing to rewrite | | | | | | |");
                    continue;
                }

                graph.Save(output);
            }

            var c = OnnxComparison.Compare(source, output, 16, 1234, 200, CancellationToken.None);
            var size = new FileInfo(output).Length;
            var sourceSize = new FileInfo(source).Length;
            text.AppendLine(invariant, $"| {name} | {method} | {size} | {F((double)size / sourceSize)} | {F(c.SourceLatencyP50Ms, "0.000")} | {F(c.LatencyP50Ms, "0.000")} | {F(c.MaxAbsDiff, "0.####E+0")} | {F(c.MeanAbsDiff, "0.####E+0")} ({F(c.MeanAbsDiff / c.SourceMeanAbs, "0.####")}) | {(c.Top1Agreement is { } t ? F(t) : "-")} |");
            Console.Error.WriteLine($"{name} {method} done");
        }
    }

    text.AppendLine();
    text.AppendLine("| model | type | size bytes | size ratio | perplexity (source) | perplexity | prompt tok/s (source) | prompt tok/s | generation tok/s (source) | generation tok/s |");
    text.AppendLine("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    var llama = Path.Combine(folder, "llama.gguf");
    GgufLlamaModelFactory.Write(llama, GgufLlamaModelOptions.Demo with { EmbeddingLength = 512, BlockCount = 4, HeadCount = 8, KeyValueHeadCount = 4, FeedForwardLength = 1536, VocabularySize = 4000, ContextLength = 2048, WeightStd = 0.05f });
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
            text.AppendLine(invariant, $"| {name} | {type} | {size} | {F((double)size / new FileInfo(source).Length)} | {F(before.Perplexity, "0.##")} | {F(after.Perplexity, "0.##")} | {F(before.PromptTokensPerSecond, "0")} | {F(after.PromptTokensPerSecond, "0")} | {F(before.GenerationTokensPerSecond, "0")} | {F(after.GenerationTokensPerSecond, "0")} |");
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
