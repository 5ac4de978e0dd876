using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using Maas.Runtimes.Llama;
using Maas.Runtimes.Llama.Training;

// Usage: dotnet run -c Release --project bench/Maas.Bench.FineTuning -- <llama-finetune> [base.gguf] [chats] [epochs] [output.md] [llama-first]
//        (llama-finetune from `TARGET=llama-finetune bench/llama-server/build.sh`, the same llama.cpp source as MaaS's engine;
//        the base defaults to ../shared/models/llama-2-tiny-random.gguf)
// Both train the same F32 copy of the base for the same epochs on the same chats (rendered with the same template as
// one text for llama-finetune), with 256-token windows, one AdamW step per window, the same learning rate and 2 threads.
// MaaS runs first, then llama-finetune (or the other way with llama-first), each once: compare as ratios of this one run.
if (args.Length < 1)
{
    Console.Error.WriteLine("usage: Maas.Bench.FineTuning <llama-finetune> [base.gguf] [chats] [epochs] [output.md]");
    return 2;
}

var tool = args[0];
var basePath = args.Length > 1 ? args[1] : Path.GetFullPath("../shared/models/llama-2-tiny-random.gguf");
var chatCount = args.Length > 2 ? int.Parse(args[2], CultureInfo.InvariantCulture) : 400;
var epochs = args.Length > 3 ? int.Parse(args[3], CultureInfo.InvariantCulture) : 3;
var output = args.Length > 4 ? args[4] : "bench/results/llama-finetune.md";
const int Window = 256;
const int Threads = 2;
const float LearningRate = 1e-3f;
var invariant = CultureInfo.InvariantCulture;
var folder = Directory.CreateTempSubdirectory("maas-bench-finetune-").FullName;
try
{
    // llama-finetune trains only F32 weights and does not convert: both start from the same F32 copy.
    var f32 = Path.Combine(folder, "base-f32.gguf");
    LlamaQuantizer.Quantize(basePath, f32, new LlamaQuantizeOptions { FileType = LlamaFileType.AllF32, AllowRequantize = true, Threads = Threads });

    // Question-and-answer chats whose answers follow from the question (the reversed letters), so both have something to learn.
    var random = new Random(1);
    var chats = Enumerable.Range(0, chatCount).Select(_ =>
    {
        var question = new string(Enumerable.Range(0, random.Next(6, 16)).Select(_ => (char)('a' + random.Next(26))).ToArray());
        return new LlamaTrainingChat([new("user", $"Reverse {question}"), new("assistant", new string(question.Reverse().ToArray()))]);
    }).ToList();

    string text;
    int textTokens;
    using (var model = LlamaModel.Load(f32))
    {
        var template = model.ChatTemplate ?? LlamaChatTemplates.Default;
        text = string.Concat(chats.Select(c => LlamaChatTemplates.Apply(template, c.Messages, addAssistant: false)));
        textTokens = model.Tokenizer.Tokenize(text, addSpecial: true, parseSpecial: false).Length; // as llama-finetune tokenizes it
    }

    var data = Path.Combine(folder, "chats.txt");
    File.WriteAllText(data, text);

    // MaaS: packed windows, loss on assistant tokens.
    (List<LlamaFineTuneEpoch> Epochs, LlamaFineTuneResult Result, double Wall) RunMaas()
    {
        var epochsDone = new List<LlamaFineTuneEpoch>();
        var clock = Stopwatch.StartNew();
        var result = LlamaFineTuner.Run(
            f32,
            chats,
            [],
            new LlamaFineTuneOptions { Epochs = epochs, LearningRate = LearningRate, Window = Window, Threads = Threads, Seed = 1, WorkFolder = Path.Combine(folder, "maas") },
            e =>
            {
                epochsDone.Add(e);
                Console.Error.WriteLine($"MaaS epoch {e.Epoch}: {e.Seconds:0.0} s, loss {e.TrainingLoss:0.000}");
            });
        return (epochsDone, result, clock.Elapsed.TotalSeconds);
    }

    // llama-finetune: windows of the text at a stride of half a window, loss on every token, no validation split.
    (string Stderr, double Wall) RunLlama()
    {
        var info = new ProcessStartInfo(tool) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in new[]
        {
            "-m", f32, "-f", data, "-c", $"{Window}", "-b", $"{Window}", "-ub", $"{Window}", "-t", $"{Threads}", "-tb", $"{Threads}",
            "-epochs", $"{epochs}", "-lr", LearningRate.ToString(invariant), "-wd", "0", "-val-split", "0", "-o", Path.Combine(folder, "llama-finetune.gguf"),
        })
        {
            info.ArgumentList.Add(arg);
        }

        var clock = Stopwatch.StartNew();
        using var process = Process.Start(info) ?? throw new InvalidOperationException($"could not start {tool}");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEnd();
        process.WaitForExit();
        _ = stdout.Result;
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{tool} exited with {process.ExitCode}: {stderr[^Math.Min(stderr.Length, 2000)..]}");
        }

        Console.Error.WriteLine($"llama-finetune: {clock.Elapsed.TotalSeconds:0.0} s");
        return (stderr, clock.Elapsed.TotalSeconds);
    }

    // One run each; "llama-first" swaps the order, so a second run can check that the order (cache, load) did not decide.
    var llamaFirst = args.Length > 5 && args[5] == "llama-first";
    var (stderr, theirsWall) = llamaFirst ? RunLlama() : default;
    var (ours, result, oursWall) = RunMaas();
    if (!llamaFirst)
    {
        (stderr, theirsWall) = RunLlama();
    }

    // Its progress bar reports after each window (data=i/n); the report with i = n closes an epoch, with its loss and elapsed time.
    var bar = new Regex(@"train: \[[^\]]*\] data=(\d+)/(\d+) loss=([0-9.]+).*? t=(\d+):(\d+):(\d+)");
    var theirs = new List<(double Loss, int Seconds)>();
    var theirWindows = 0;
    var closed = false;
    foreach (Match m in bar.Matches(stderr))
    {
        var last = m.Groups[1].Value == m.Groups[2].Value;
        if (last && !closed)
        {
            theirWindows = int.Parse(m.Groups[2].Value, invariant); // its datapoints: windows at a stride of half a window
            theirs.Add((double.Parse(m.Groups[3].Value, invariant),
                (int.Parse(m.Groups[4].Value, invariant) * 3600) + (int.Parse(m.Groups[5].Value, invariant) * 60) + int.Parse(m.Groups[6].Value, invariant)));
        }

        closed = last;
    }

    if (theirs.Count != epochs)
    {
        throw new InvalidOperationException($"found {theirs.Count} epochs in llama-finetune's output, not {epochs}: {stderr[^Math.Min(stderr.Length, 2000)..]}");
    }

    var oursEpoch = ours.Average(e => e.Seconds);
    var theirsEpoch = theirs.Average(e => (double)e.Seconds);
    var oursRate = result.Windows * (double)Window / oursEpoch;
    var theirsRate = theirWindows * (double)Window / theirsEpoch;
    var report = new StringBuilder();
    report.AppendLine(invariant, $"Measured {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC on {Environment.ProcessorCount} cores (load average " +
        $"{File.ReadAllText("/proc/loadavg").Split(' ')[0]} at the end: a busy machine), {Threads} threads each, one run of each, " +
        $"{(llamaFirst ? "llama-finetune" : "MaaS")} first.");
    report.AppendLine(invariant, $"Base: {Path.GetFileName(basePath)} converted to F32; {chatCount} chats ({textTokens} tokens as one text), {epochs} epochs, {Window}-token " +
        $"windows, one AdamW step per window, learning rate {LearningRate.ToString(invariant)}, no weight decay.");
    report.AppendLine();
    report.AppendLine("| | windows / epoch | s / epoch (training) | window tokens / s | final training loss | wall s (load, train, save) |");
    report.AppendLine("| --- | ---: | ---: | ---: | ---: | ---: |");
    report.AppendLine(invariant, $"| MaaS (`LlamaFineTuner`, assistant tokens only) | {result.Windows} | {oursEpoch:0.00} | {oursRate:0} | " +
        $"{ours[^1].TrainingLoss:0.0000} | {oursWall:0.0} |");
    report.AppendLine(invariant, $"| llama-finetune (every token) | {theirWindows} | {theirsEpoch:0.00} | {theirsRate:0} | {theirs[^1].Loss:0.0000} | {theirsWall:0.0} |");
    report.AppendLine(invariant, $"| ratio MaaS / llama-finetune | | {oursEpoch / theirsEpoch:0.00} | {oursRate / theirsRate:0.00} | | {oursWall / theirsWall:0.00} |");
    report.AppendLine();
    report.AppendLine(invariant, $"Per epoch, MaaS: {string.Join(", ", ours.Select(e => $"{e.Seconds:0.00} s loss {e.TrainingLoss:0.000}"))}; llama-finetune: " +
        $"{string.Join(", ", theirs.Select(e => $"{e.Seconds} s loss {e.Loss:0.000}"))} (its times are whole seconds).");
    var table = report.ToString();
    Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(output))!);
    File.WriteAllText(output, table);
    Console.WriteLine(table);
    return 0;
}
finally
{
    Directory.Delete(folder, recursive: true);
}
