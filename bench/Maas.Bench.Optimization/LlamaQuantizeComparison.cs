using System.Diagnostics;
using System.Globalization;
using System.Text;
using Maas.Core.Formats.Gguf;
using Maas.Optimization.Gguf;
using Maas.Runtimes.Llama;

/// <summary>
/// MaaS's quantiser (llama_model_quantize through the binding, in process) against llama.cpp's own llama-quantize
/// built from the same source, on the same generated model and type: time (median of interleaved runs), file size,
/// tensor types and perplexity on the held-out passage, as ratios MaaS / llama-quantize.
/// </summary>
internal static class LlamaQuantizeComparison
{
    public static string Run(string llamaQuantize, int runs, int threads)
    {
        var folder = Directory.CreateTempSubdirectory("maas-bench-quantize-").FullName;
        var invariant = CultureInfo.InvariantCulture;
        var text = new StringBuilder();
        try
        {
            var source = Path.Combine(folder, "llama.gguf");
            GgufLlamaModelFactory.Write(source, GgufLlamaModelOptions.Demo with { EmbeddingLength = 512, BlockCount = 4, HeadCount = 8, KeyValueHeadCount = 4, FeedForwardLength = 1536, VocabularySize = 4000, ContextLength = 2048, WeightStd = 0.05f });
            text.AppendLine(invariant, $"Measured {DateTime.UtcNow:yyyy-MM-dd} on {Environment.ProcessorCount} cores, {threads} quantiser threads, median of {runs} interleaved runs each; source: generated Llama 512x4 (F32, {new FileInfo(source).Length} bytes). llama-quantize's time includes starting its process.");
            text.AppendLine();
            text.AppendLine("| type | MaaS s | llama-quantize s | time ratio | MaaS bytes | llama-quantize bytes | size ratio | same tensor types | perplexity MaaS | perplexity llama-quantize | perplexity ratio |");
            text.AppendLine("| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: |");
            foreach (var type in new[] { "q8_0", "q6_k", "q4_k_m", "q4_0" })
            {
                var ours = Path.Combine(folder, $"maas-{type}.gguf");
                var theirs = Path.Combine(folder, $"llama-{type}.gguf");
                var maasTimes = new double[runs];
                var llamaTimes = new double[runs];
                for (var r = 0; r < runs; r++)
                {
                    // Alternating which goes first, so neither always meets a warm or a cold page cache.
                    if (r % 2 == 0)
                    {
                        maasTimes[r] = Maas(source, ours, type, threads);
                        llamaTimes[r] = Llama(llamaQuantize, source, theirs, type, threads);
                    }
                    else
                    {
                        llamaTimes[r] = Llama(llamaQuantize, source, theirs, type, threads);
                        maasTimes[r] = Maas(source, ours, type, threads);
                    }
                }

                var a = GgufReader.Read(ours).Tensors.ToDictionary(t => t.Name, t => t.Type);
                var b = GgufReader.Read(theirs).Tensors.ToDictionary(t => t.Name, t => t.Type);
                var sameTypes = a.Count == b.Count && a.All(kv => b.TryGetValue(kv.Key, out var t) && t == kv.Value);
                var pOurs = LlmMeasurement.Measure(ours, HeldOutText.Passage, threads, CancellationToken.None).Perplexity;
                var pTheirs = LlmMeasurement.Measure(theirs, HeldOutText.Passage, threads, CancellationToken.None).Perplexity;
                var (mt, lt) = (Median(maasTimes), Median(llamaTimes));
                var (ms, ls) = (new FileInfo(ours).Length, new FileInfo(theirs).Length);
                text.AppendLine(invariant, $"| {type} | {mt:0.000} | {lt:0.000} | {mt / lt:0.00} | {ms} | {ls} | {(double)ms / ls:0.0000} | {(sameTypes ? "yes" : "no")} | {pOurs:0.##} | {pTheirs:0.##} | {pOurs / pTheirs:0.0000} |");
                Console.Error.WriteLine($"{type} done");
            }

            return text.ToString();
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    private static double Maas(string source, string output, string type, int threads)
    {
        var start = Stopwatch.GetTimestamp();
        LlamaQuantizer.Quantize(source, output, new LlamaQuantizeOptions { FileType = GgufQuantTypes.ByName[type], Threads = threads });
        return Stopwatch.GetElapsedTime(start).TotalSeconds;
    }

    private static double Llama(string tool, string source, string output, string type, int threads)
    {
        var start = Stopwatch.GetTimestamp();
        var info = new ProcessStartInfo(tool) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in new[] { source, output, type.ToUpperInvariant(), threads.ToString(CultureInfo.InvariantCulture) })
        {
            info.ArgumentList.Add(arg);
        }

        using var process = Process.Start(info) ?? throw new InvalidOperationException($"could not start {tool}");
        var stderr = process.StandardError.ReadToEndAsync();
        process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{tool} exited with {process.ExitCode}: {stderr.Result}");
        }

        return Stopwatch.GetElapsedTime(start).TotalSeconds;
    }

    private static double Median(double[] values)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[(sorted.Length / 2) - 1] + sorted[sorted.Length / 2]) / 2;
    }
}
