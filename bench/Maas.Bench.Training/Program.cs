using System.Diagnostics;
using System.Globalization;
using System.IO.Compression;
using System.Text.Json;
using System.Text.Json.Nodes;
using Maas.Core.Training;
using Maas.Runtimes.Ggml;

// Trains MaaS's default CNN on Fashion-MNIST with the ggml trainer and the same network with PyTorch, one after the
// other in one run, and reports images per second (training only) and final test accuracy for each, as ratios.
var settings = Settings.Parse(args);
var data = settings.Data;
if (!File.Exists(Path.Combine(data, "train-images-idx3-ubyte.gz")))
{
    Console.Error.WriteLine($"no Fashion-MNIST under {data}: install Debian's dataset-fashion-mnist or pass --data DIR");
    return 2;
}

var (trainImages, trainLabels) = Idx.Read(data, "train", settings.TrainLimit);
var (testImages, testLabels) = Idx.Read(data, "t10k", 0);
Console.WriteLine($"Fashion-MNIST: {trainLabels.Length} training and {testLabels.Length} test images; {settings.Epochs} epochs, batch {settings.Batch}, {settings.Threads} " +
    $"threads, AdamW lr {settings.LearningRate}");

// MaaS: the trainer image-classification jobs use, without the job around it (no validation pass, no checkpoint).
(List<GgmlEpoch> Epochs, double Accuracy,
    double CpuSeconds) TrainMaas(bool gatherColumns, string label, bool padContraction = false, bool dataParallel = true, bool padGathered = true, bool quadrants = true)
{
    using var self = Process.GetCurrentProcess();
    var cpu = self.TotalProcessorTime;
    var options = new GgmlTrainingOptions
    {
        BatchSize = settings.Batch,
        Threads = settings.Threads,
        LearningRate = settings.LearningRate,
        Seed = 42,
        GatherColumns = gatherColumns,
        PadContraction = padContraction,
        DataParallel = dataParallel,
        PadGatheredContraction = padGathered,
        PoolByQuadrants = quadrants
    };
    var epochs = new List<GgmlEpoch>();
    using var network = GgmlNetwork.Create(NetworkShapes.DefaultCnn, new([1, 28, 28]), 10, options);
    var rows = Enumerable.Range(0, trainLabels.Length).ToArray();
    for (var e = 0; e < settings.Epochs; e++)
    {
        var epoch = network.TrainEpoch(trainImages, trainLabels, rows, CancellationToken.None);
        epochs.Add(epoch);
        Console.WriteLine($"  {label} epoch {epoch.Epoch}: {epoch.Seconds:F1} s, {epoch.Examples / epoch.Seconds:F0} images/s, loss {epoch.TrainLoss:F4}, ggml on " +
            $"{epoch.Threads} of {settings.Threads} threads at the end");
    }

    self.Refresh();
    var cpuSeconds = (self.TotalProcessorTime - cpu).TotalSeconds;
    var test = Enumerable.Range(0, testLabels.Length).ToArray();
    var logits = network.Logits(testImages, test);
    return (epochs, test.Count(i => ArgMax(logits.AsSpan(i * 10, 10)) == testLabels[i]) / (double)test.Length, cpuSeconds);
}

static double Rate(List<GgmlEpoch> epochs) => epochs.Sum(e => e.Examples) / epochs.Sum(e => e.Seconds);

// Warm-up, untimed: the first network trained in a process ran about 1.5x slower than the next whichever convolution
// path it used (one-time costs of the runtime and of ggml's first graphs), which would decide a comparison by order.
using (var warmUp = GgmlNetwork.Create(NetworkShapes.DefaultCnn, new([1, 28, 28]), 10, new GgmlTrainingOptions { BatchSize = settings.Batch, Threads = settings.Threads }))
{
    warmUp.TrainEpoch(trainImages, trainLabels, Enumerable.Range(0, Math.Min(trainLabels.Length, 20 * settings.Batch)).ToArray(), CancellationToken.None);
}

var (maasEpochs, maasAccuracy, maasCpu) = TrainMaas(gatherColumns: true, "maas ");

// Each --compare-* option trains its variant twice and the default once more (the default ran first above): default,
// variant, variant, default, so that a load that rises or falls during the run falls on both alike. The process's CPU
// seconds are reported too.
(List<GgmlEpoch> Epochs, double Accuracy, double CpuSeconds)? CompareWith(bool asked, Func<(List<GgmlEpoch> Epochs, double Accuracy, double CpuSeconds)> variant)
{
    if (!asked)
    {
        return null;
    }

    var first = variant();
    var second = variant();
    var again = TrainMaas(gatherColumns: true, "maas ");
    (maasEpochs, maasCpu) = ([.. maasEpochs, .. again.Epochs], maasCpu + again.CpuSeconds);
    return ([.. first.Epochs, .. second.Epochs], first.Accuracy, first.CpuSeconds + second.CpuSeconds);
}

// --compare-im2col: the same network with the second convolution's columns unrolled by im2col (the path before the
// gathered columns).
var im2col = CompareWith(settings.CompareIm2col, () => TrainMaas(gatherColumns: false, "im2col"));

// --compare-padded: the same network with the first convolution's 3x3 kernel enlarged to 4x4 with zeros, so its
// contraction of 9 becomes 16 and takes ggml's tiled GEMM (GgmlTrainingOptions.PadContraction, off by default).
var padded = CompareWith(settings.ComparePadded, () => TrainMaas(gatherColumns: true, "padded", padContraction: true));

// --compare-whole-batch: the same network trained by one ggml graph over the whole batch, ggml threading each
// operation (GgmlTrainingOptions.DataParallel off; the path before the halves).
var whole = CompareWith(settings.CompareWholeBatch, () => TrainMaas(gatherColumns: true, "whole", dataParallel: false));

// --compare-unpadded-gather: the same network with the second convolution's gathered contraction left at C·k·k (72)
// instead of padded with zero rows to the tiled GEMM's multiple (GgmlTrainingOptions.PadGatheredContraction, on by
// default).
var unpadded = CompareWith(settings.CompareUnpaddedGather, () => TrainMaas(gatherColumns: true, "unpadded", padGathered: false));

// --compare-pool2d: the same network with ggml's pool_2d / pool_2d_back for the max-pools instead of the convolutions'
// quadrants (GgmlTrainingOptions.PoolByQuadrants, on by default).
var pool2d = CompareWith(settings.ComparePool2d, () => TrainMaas(gatherColumns: true, "pool_2d", quadrants: false));

// PyTorch: the same network, optimiser settings, batch size, epochs and threads, in a child process.
var script = Path.Combine(AppContext.BaseDirectory, "torch_fashion.py");
var interpreter = Environment.GetEnvironmentVariable("MAAS_BENCH_PYTHON") is { Length: > 0 } chosen ? chosen : "/usr/bin/python3";
var start = new ProcessStartInfo(interpreter) { RedirectStandardOutput = true, RedirectStandardError = true };
foreach (var a in new[] { script, "--data", data, "--epochs", $"{settings.Epochs}", "--batch", $"{settings.Batch}", "--threads", $"{settings.Threads}", "--lr",
    settings.LearningRate.ToString(CultureInfo.InvariantCulture), "--train-limit", $"{settings.TrainLimit}" })
{
    start.ArgumentList.Add(a);
}

using var python = Process.Start(start)!;
var stderr = python.StandardError.ReadToEndAsync();
var output = await python.StandardOutput.ReadToEndAsync();
await python.WaitForExitAsync();
if (python.ExitCode != 0)
{
    Console.Error.WriteLine($"PyTorch's side failed ({python.ExitCode}): {await stderr}");
    return 1;
}

var torch = JsonNode.Parse(output.Trim().Split('\n')[^1])!;
var torchEpochs = torch["epochs"]!.AsArray()
    .Select(e => (Seconds: (double)e!["seconds"]!, CpuSeconds: (double)e["cpu_seconds"]!, Images: (long)e["images"]!, Loss: (double)e["train_loss"]!)).ToArray();
foreach (var (e, i) in torchEpochs.Select((e, i) => (e, i)))
{
    Console.WriteLine($"  torch epoch {i + 1}: {e.Seconds:F1} s, {e.Images / e.Seconds:F0} images/s, loss {e.Loss:F4}");
}

var maasRate = Rate(maasEpochs);
var torchRate = torchEpochs.Sum(e => e.Images) / torchEpochs.Sum(e => e.Seconds);
var torchAccuracy = (double)torch["test_accuracy"]!;
var report = new JsonObject
{
    ["benchmark"] = "training-fashion-mnist",
    ["when"] = DateTimeOffset.UtcNow.ToString("u", CultureInfo.InvariantCulture),
    ["machine"] = $"{Environment.ProcessorCount} cores",
    ["network"] = "conv3x3(8,pad1) relu maxpool2 conv3x3(16,pad1) relu maxpool2 flatten dense64 relu dense10",
    ["epochs"] = settings.Epochs,
    ["batch"] = settings.Batch,
    ["threads"] = settings.Threads,
    ["maas_threads_chosen"] = new JsonArray([.. maasEpochs.Select(e => JsonValue.Create(e.Threads))]),
    ["learning_rate"] = settings.LearningRate,
    ["train_images"] = trainLabels.Length,
    ["torch_version"] = (string?)torch["torch"],
    ["maas_seconds_per_epoch"] = maasEpochs.Average(e => e.Seconds),
    ["torch_seconds_per_epoch"] = torchEpochs.Average(e => e.Seconds),
    ["maas_images_per_second"] = maasRate,
    ["torch_images_per_second"] = torchRate,
    ["images_per_second_ratio"] = maasRate / torchRate,
    ["maas_test_accuracy"] = maasAccuracy,
    ["torch_test_accuracy"] = torchAccuracy,
};
report["maas_images_per_cpu_second"] = maasEpochs.Sum(e => e.Examples) / maasCpu;
report["torch_images_per_cpu_second"] = torchEpochs.Sum(e => e.Images) / torchEpochs.Sum(e => e.CpuSeconds);
report["images_per_cpu_second_ratio"] = (double)report["maas_images_per_cpu_second"]! / (double)report["torch_images_per_cpu_second"]!;
// The compared variants in the report and the table: key prefix, label, run (null when not asked for).
var variants = new (string Key, string Label, (List<GgmlEpoch> Epochs, double Accuracy, double CpuSeconds)? Run)[]
{
    ("maas_im2col", "MaaS (ggml, im2col)", im2col),
    ("maas_padded", "MaaS (ggml, first convolution padded to 16)", padded),
    ("maas_unpadded_gather", "MaaS (ggml, gathered contraction not padded)", unpadded),
    ("maas_pool2d", "MaaS (ggml, pool_2d max-pools)", pool2d),
    ("maas_whole_batch", "MaaS (ggml, one graph over the whole batch)", whole),
};
foreach (var (key, _, run) in variants)
{
    if (run is { } v)
    {
        report[$"{key}_images_per_second"] = Rate(v.Epochs);
        report[$"{key}_images_per_cpu_second"] = v.Epochs.Sum(e => e.Examples) / v.CpuSeconds;
        report[$"{key}_test_accuracy"] = v.Accuracy;
    }
}

if (whole is { } single)
{
    report["maas_whole_batch_threads_chosen"] = new JsonArray([.. single.Epochs.Select(e => JsonValue.Create(e.Threads))]);
}

Console.WriteLine();
Console.WriteLine("| trainer | s/epoch | images/s | test accuracy |");
Console.WriteLine("|---|---|---|---|");
Console.WriteLine($"| MaaS (ggml) | {maasEpochs.Average(e => e.Seconds):F1} | {maasRate:F0} | {maasAccuracy:F4} |");
foreach (var (_, label, run) in variants)
{
    if (run is { } row)
    {
        Console.WriteLine($"| {label} | {row.Epochs.Average(e => e.Seconds):F1} | {Rate(row.Epochs):F0} | {row.Accuracy:F4} |");
    }
}

Console.WriteLine($"| PyTorch {torch["torch"]} | {torchEpochs.Average(e => e.Seconds):F1} | {torchRate:F0} | {torchAccuracy:F4} |");
Console.WriteLine($"MaaS / PyTorch images per second: {maasRate / torchRate:F2}x; per CPU second: {(double)report["images_per_cpu_second_ratio"]!:F2}x");
if (im2col is { } earlier)
{
    var cpuRatio = maasEpochs.Sum(e => e.Examples) / maasCpu / (earlier.Epochs.Sum(e => e.Examples) / earlier.CpuSeconds);
    Console.WriteLine($"MaaS with im2col / PyTorch: {Rate(earlier.Epochs) / torchRate:F2}x; gathered / im2col: {maasRate / Rate(earlier.Epochs):F2}x (images per CPU " +
        $"second: {cpuRatio:F2}x)");
}

if (padded is { } wideRatio)
{
    var cpuRatio = wideRatio.Epochs.Sum(e => e.Examples) / wideRatio.CpuSeconds / (maasEpochs.Sum(e => e.Examples) / maasCpu);
    Console.WriteLine($"MaaS padded / PyTorch: {Rate(wideRatio.Epochs) / torchRate:F2}x; padded / default: {Rate(wideRatio.Epochs) / maasRate:F2}x (images per CPU " +
        $"second: {cpuRatio:F2}x)");
}

if (unpadded is { } narrowRatio)
{
    var cpuRatio = maasEpochs.Sum(e => e.Examples) / maasCpu / (narrowRatio.Epochs.Sum(e => e.Examples) / narrowRatio.CpuSeconds);
    Console.WriteLine($"MaaS unpadded gather / PyTorch: {Rate(narrowRatio.Epochs) / torchRate:F2}x; default / unpadded: {maasRate / Rate(narrowRatio.Epochs):F2}x (images per " +
        $"CPU second: {cpuRatio:F2}x)");
}

if (pool2d is { } poolRatio)
{
    var cpuRatio = maasEpochs.Sum(e => e.Examples) / maasCpu / (poolRatio.Epochs.Sum(e => e.Examples) / poolRatio.CpuSeconds);
    Console.WriteLine($"MaaS pool_2d / PyTorch: {Rate(poolRatio.Epochs) / torchRate:F2}x; default / pool_2d: {maasRate / Rate(poolRatio.Epochs):F2}x (images per CPU " +
        $"second: {cpuRatio:F2}x)");
}

if (whole is { } wholeRatio)
{
    var cpuRatio = maasEpochs.Sum(e => e.Examples) / maasCpu / (wholeRatio.Epochs.Sum(e => e.Examples) / wholeRatio.CpuSeconds);
    Console.WriteLine($"MaaS whole batch / PyTorch: {Rate(wholeRatio.Epochs) / torchRate:F2}x; halves / whole batch: {maasRate / Rate(wholeRatio.Epochs):F2}x (images per CPU " +
        $"second: {cpuRatio:F2}x)");
}

if (settings.Output is { } path)
{
    Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
    await File.WriteAllTextAsync(path, report.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
}

return 0;

static int ArgMax(ReadOnlySpan<float> scores)
{
    var best = 0;
    for (var c = 1; c < scores.Length; c++)
    {
        best = scores[c] > scores[best] ? c : best;
    }

    return best;
}

/// <summary>The benchmark's command line.</summary>
internal sealed record Settings(string Data, int Epochs, int Batch, int Threads, double LearningRate, int TrainLimit, string? Output, bool CompareIm2col, bool ComparePadded,
    bool CompareWholeBatch, bool CompareUnpaddedGather, bool ComparePool2d)
{
    public static Settings Parse(string[] args)
    {
        string? Value(string name) => Array.IndexOf(args, name) is var i and >= 0 && i + 1 < args.Length ? args[i + 1] : null;
        int Int(string name, int fallback) => Value(name) is { } v ? int.Parse(v, CultureInfo.InvariantCulture) : fallback;
        return new(
            Value("--data") ?? "/usr/share/datasets/fashion-mnist",
            Int("--epochs", 2),
            Int("--batch", 32),
            Int("--threads", 2),
            Value("--lr") is { } lr ? double.Parse(lr, CultureInfo.InvariantCulture) : 1e-3,
            Int("--train-limit", 0),
            Value("--out"),
            args.Contains("--compare-im2col"),
            args.Contains("--compare-padded"),
            args.Contains("--compare-whole-batch"),
            args.Contains("--compare-unpadded-gather"),
            args.Contains("--compare-pool2d"));
    }
}

/// <summary>Reads a gzip IDX pair (images scaled to 0..1, labels) as MNIST and Fashion-MNIST ship them.</summary>
internal static class Idx
{
    public static (float[] Images, int[] Labels) Read(string folder, string prefix, int limit)
    {
        var images = Load(Path.Combine(folder, $"{prefix}-images-idx3-ubyte.gz"), out var imageDims);
        var labels = Load(Path.Combine(folder, $"{prefix}-labels-idx1-ubyte.gz"), out _);
        var count = limit > 0 ? Math.Min(limit, imageDims[0]) : imageDims[0];
        var size = imageDims[1] * imageDims[2];
        var pixels = new float[(long)count * size];
        for (var i = 0; i < pixels.Length; i++)
        {
            pixels[i] = images[i] / 255f;
        }

        return (pixels, labels.Take(count).Select(b => (int)b).ToArray());
    }

    private static byte[] Load(string path, out int[] dims)
    {
        using var stream = new MemoryStream();
        using (var gzip = new GZipStream(File.OpenRead(path), CompressionMode.Decompress))
        {
            gzip.CopyTo(stream);
        }

        var bytes = stream.ToArray();
        var rank = bytes[3];
        dims = Enumerable.Range(0, rank).Select(d => System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(4 + (4 * d)))).ToArray();
        return bytes[(4 + (4 * rank))..];
    }
}
