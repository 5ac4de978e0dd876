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
    /// <summary>
    /// The comparison with <paramref name="tools"/> (label, path; the first is llama-quantize, whose file the size, tensor
    /// types and perplexity are checked against; the others, such as a generic build or a probe linked against MaaS's
    /// own library, are timed only), all interleaved in one run.
    /// </summary>
    public static string Run(IReadOnlyList<(string Label, string Path)> tools, int runs, int threads)
    {
        var folder = Directory.CreateTempSubdirectory("maas-bench-quantize-").FullName;
        var invariant = CultureInfo.InvariantCulture;
        var text = new StringBuilder();
        try
        {
            var source = Path.Combine(folder, "llama.gguf");
            WriteSource(source);
            text.AppendLine(invariant, $"Measured {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC on {Environment.ProcessorCount} cores, {threads} quantiser threads, median of {runs} " +
                $"interleaved runs each (the order rotates every run); source: generated Llama 512x4 (F32, {new FileInfo(source).Length} bytes). Wall seconds include starting " +
                $"the tools' processes; CPU seconds are user + system time of all threads (MaaS: its whole process during the call; the tools: perf stat's " +
                $"task-clock{(File.Exists(Perf) ? "" : ", not measured: perf is not installed")}). Size, tensor types and perplexity are against {tools[0].Label}.");
            text.AppendLine();
            text.AppendLine("| type | MaaS wall s / CPU s | " + string.Join(" | ", tools.Select(t => $"{t.Label} wall s / CPU s | MaaS / {t.Label} wall / CPU")) +
                " | size ratio | same tensor types | perplexity ratio |");
            text.AppendLine("| --- | ---: | " + string.Join(" | ", tools.Select(_ => "---: | ---:")) + " | ---: | --- | ---: |");
            foreach (var type in new[] { "q8_0", "q6_k", "q4_k_m", "q4_0" })
            {
                var ours = Path.Combine(folder, $"maas-{type}.gguf");
                var outputs = tools.Select((_, i) => Path.Combine(folder, $"tool{i}-{type}.gguf")).ToArray();
                var times = new (double Wall, double Cpu)[tools.Count + 1][];
                for (var k = 0; k < times.Length; k++)
                {
                    times[k] = new (double, double)[runs];
                }

                for (var r = 0; r < runs; r++)
                {
                    // Rotating which goes first, so none always meets a warm or a cold page cache.
                    for (var j = 0; j < times.Length; j++)
                    {
                        var k = (j + r) % times.Length;
                        times[k][r] = k == 0 ? Maas(source, ours, type, threads) : Llama(tools[k - 1].Path, source, outputs[k - 1], type, threads);
                    }
                }

                var theirs = outputs[0];
                var a = GgufReader.Read(ours).Tensors.ToDictionary(t => t.Name, t => t.Type);
                var b = GgufReader.Read(theirs).Tensors.ToDictionary(t => t.Name, t => t.Type);
                var sameTypes = a.Count == b.Count && a.All(kv => b.TryGetValue(kv.Key, out var t) && t == kv.Value);
                var pOurs = LlmMeasurement.Measure(ours, HeldOutText.Passage, threads, CancellationToken.None).Perplexity;
                var pTheirs = LlmMeasurement.Measure(theirs, HeldOutText.Passage, threads, CancellationToken.None).Perplexity;
                var (mw, mc) = (Median(times[0].Select(t => t.Wall)), Median(times[0].Select(t => t.Cpu)));
                var (ms, ls) = (new FileInfo(ours).Length, new FileInfo(theirs).Length);
                var columns = string.Join(" | ", Enumerable.Range(1, tools.Count).Select(k =>
                {
                    var (w, c) = (Median(times[k].Select(t => t.Wall)), Median(times[k].Select(t => t.Cpu)));
                    return string.Create(invariant, $"{w:0.000} / {c:0.000} | {mw / w:0.00} / {mc / c:0.00}");
                }));
                text.AppendLine(invariant, $"| {type} | {mw:0.000} / {mc:0.000} | {columns} | {(double)ms / ls:0.0000} | {(sameTypes ? "yes" : "no")} | " +
                    $"{pOurs / pTheirs:0.0000} |");
                Console.Error.WriteLine($"{type} done");
            }

            return text.ToString();
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    /// <summary>Writes the generated Llama (512 wide, 4 layers, F32) the comparison quantises.</summary>
    public static void WriteSource(string path) =>
        GgufLlamaModelFactory.Write(path, GgufLlamaModelOptions.Demo with
        {
            EmbeddingLength = 512,
            BlockCount = 4,
            HeadCount = 8,
            KeyValueHeadCount = 4,
            FeedForwardLength = 1536,
            VocabularySize = 4000,
            ContextLength = 2048,
            WeightStd = 0.05f
        });

    // perf stat counts a child's CPU time (all its threads) precisely; on a busy machine wall time is mostly waiting.
    private const string Perf = "/usr/bin/perf";

    private static (double Wall, double Cpu) Maas(string source, string output, string type, int threads)
    {
        using var self = Process.GetCurrentProcess();
        var cpu = self.TotalProcessorTime;
        var start = Stopwatch.GetTimestamp();
        LlamaQuantizer.Quantize(source, output, new LlamaQuantizeOptions { FileType = GgufQuantTypes.ByName[type], Threads = threads });
        var wall = Stopwatch.GetElapsedTime(start).TotalSeconds;
        self.Refresh();
        return (wall, (self.TotalProcessorTime - cpu).TotalSeconds);
    }

    private static (double Wall, double Cpu) Llama(string tool, string source, string output, string type, int threads)
    {
        var start = Stopwatch.GetTimestamp();
        var counted = File.Exists(Perf);
        var stat = Path.Combine(Path.GetDirectoryName(output)!, "perf-stat.txt");
        var info = new ProcessStartInfo(counted ? Perf : tool) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in (counted ? new[] { "stat", "-x", ",", "-e", "task-clock", "-o", stat, "--", tool } : []).Concat(
            [source, output, type.ToUpperInvariant(), threads.ToString(CultureInfo.InvariantCulture)]))
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

        var wall = Stopwatch.GetElapsedTime(start).TotalSeconds;

        // perf's CSV line: "<msec>,msec,task-clock,...".
        var line = counted ? File.ReadLines(stat).FirstOrDefault(l => l.Contains("task-clock", StringComparison.Ordinal)) : null;
        var cpu = line is not null && double.TryParse(line.Split(',')[0], NumberStyles.Float, CultureInfo.InvariantCulture, out var ms) ? ms / 1000 : double.NaN;
        return (wall, cpu);
    }

    private static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[(sorted.Length / 2) - 1] + sorted[sorted.Length / 2]) / 2;
    }
}
