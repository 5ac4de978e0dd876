using System.Diagnostics;
using Maas.Core.Datasets;
using Maas.Core.Jobs;
using Maas.Core.Jobs.Queue;
using Maas.Core.Training;
using Maas.Optimization.Onnx;
using Maas.Runtimes.Ggml;
using Maas.Runtimes.Onnx;

namespace Maas.Optimization.FineTuning;

/// <summary>
/// Fine-tunes a pruned network: reads the rewrite back (<see cref="OnnxNetworkImport"/>), trains it on the dataset
/// version with ggml (the trainer's <see cref="GgmlNetwork"/>, starting from the pruned weights), keeps the epoch with
/// the best validation loss, and exports it with the trainer's own <see cref="NetworkOnnx"/>. Weights magnitude pruning
/// set to zero are set back to zero after every step, so the sparsity stays what was asked.
/// </summary>
public static class PrunedFineTune
{
    /// <summary>
    /// Reads the pictures and labels of <paramref name="table"/> as the ggml trainer does (pixels / 255, channels first)
    /// and splits the labelled rows as a training job with the same split does, so the source's test rows stay unseen.
    /// </summary>
    public static FineTuneData Data(FineTuneSpec spec, DatasetTable table)
    {
        var label = $"{spec.Dataset!.Name}:{spec.Dataset.Version}";
        var image = table.IndexOf(spec.Image!);
        var labelIndex = table.IndexOf(spec.Label!);
        if (image < 0 || labelIndex < 0 || table.Columns[image].Shape is not { Count: 2 or 3 } dims)
        {
            throw new JobFailedException($"invalid_{spec.Option}", $"{label} no longer has the image column '{spec.Image}' and label column '{spec.Label}'");
        }

        var (height, width, channels) = (dims[0], dims[1], dims.Count == 3 ? dims[2] : 1);
        var size = height * width * channels;
        var classes = spec.Classes!;
        var images = new float[(long)table.Rows.Count * size];
        var labels = new int[table.Rows.Count];
        for (var r = 0; r < table.Rows.Count; r++)
        {
            var row = table.Rows[r];
            labels[r] = row[labelIndex] is { } value ? IndexOf(classes, DatasetStatisticsCalculator.Key(value)) : -1;
            if (row[image] is not byte[] pixels || pixels.Length != size)
            {
                labels[r] = -1;
                continue;
            }

            ImagePixels.ToChannelsFirst(pixels, images, (long)r * size, height, width, channels);
        }

        // The training job's split: labelled rows grouped by class (groups in ordinal order of their key), each group
        // shuffled by one generator seeded with the split's seed, test then validation taken from its front.
        var split = spec.Split!;
        var random = new Random(split.Seed);
        var labelled = Enumerable.Range(0, table.Rows.Count).Where(r => table.Rows[r][labelIndex] is not null).ToArray();
        var groups = labelled.GroupBy(r => DatasetStatisticsCalculator.Key(table.Rows[r][labelIndex]!)).OrderBy(g => g.Key, StringComparer.Ordinal).Select(g => g.ToArray())
            .ToArray();
        List<int> train = [], validation = [], test = [];
        foreach (var group in groups)
        {
            random.Shuffle(group);
            var nTest = (int)Math.Round(group.Length * split.Test);
            var nValidation = (int)Math.Round(group.Length * split.Validation);
            if (group.Length - nTest - nValidation < 1)
            {
                nValidation = Math.Max(0, group.Length - nTest - 1);
            }

            test.AddRange(group.Take(nTest));
            validation.AddRange(group.Skip(nTest).Take(nValidation));
            train.AddRange(group.Skip(nTest + nValidation));
        }

        // Rows whose picture is unreadable or whose class the model does not know take no part.
        int[] Usable(List<int> rows) => [.. rows.Where(r => labels[r] >= 0).Order()];
        var (trainRows, validationRows, testRows) = (Usable(train), Usable(validation), Usable(test));
        var training = spec.Option == FineTuneSpec.FineTuneOption;
        if (testRows.Length < 1 || (training && trainRows.Length < 1))
        {
            throw new JobFailedException("dataset_too_small", training
                ? $"{label} leaves {trainRows.Length} training and {testRows.Length} test pictures of the model's classes; fine-tuning needs both"
                : $"{label} leaves no test picture of the model's classes to measure accuracy on");
        }

        return new FineTuneData(images, labels, new NetworkShape([channels, height, width]), trainRows, validationRows, testRows,
            labelled.Length - trainRows.Length - validationRows.Length - testRows.Length);
    }

    /// <summary>
    /// Trains the network of <paramref name="pruned"/> on <paramref name="data"/> and writes the best epoch's export to
    /// <paramref name="output"/>; progress goes from <paramref name="fromPercent"/> to <paramref name="toPercent"/>. Returns
    /// what the report shows of the run.
    /// </summary>
    public static async Task<Dictionary<string, object?>> RunAsync(JobRun run, FineTuneSpec spec, FineTuneData data, string pruned, string output, bool keepZeros, int threads,
        double fromPercent, double toPercent)
    {
        var imported = ImportPruned(spec, data, pruned);
        using var network = CreateNetwork(imported, TrainingOptionsOf(spec, data, threads));
        network.Restore(imported.Weights);

        // Magnitude pruning's zeros: their positions per layer tensor, put back to zero after every optimiser step.
        var zeros = keepZeros ? Zeros(imported) : [];
        var clock = Stopwatch.StartNew();
        var epochs = new EpochPlan((int)Hyper(spec, "epochs", FineTuneSpec.DefaultEpochs), (int)Hyper(spec, "patience", 3), fromPercent, toPercent);
        var (best, bestEpoch, history) = await TrainEpochsAsync(run, network, data, imported.Classes, zeros, epochs, clock);
        NetworkOnnx.Export(network, best).Save(output);
        var zerosKept = keepZeros ? zeros.Values.Sum(p => (long)p.Length) : (long?)null;
        return Report(spec, data, imported, history, bestEpoch, zerosKept, clock.Elapsed.TotalSeconds);
    }

    // How many epochs to train at most, after how many without a better validation loss to stop, and the share of the
    // job's progress they cover.
    private readonly record struct EpochPlan(int Epochs, int Patience, double FromPercent, double ToPercent);

    // The pruned model read back as layers the ggml trainer builds; refused unless it fits the dataset's pictures and classes.
    private static ImportedNetwork ImportPruned(FineTuneSpec spec, FineTuneData data, string pruned)
    {
        ImportedNetwork imported;
        try
        {
            imported = OnnxNetworkImport.Read(OnnxGraph.Load(pruned));
        }
        catch (NetworkImportException e)
        {
            throw new JobFailedException("fine_tune_not_applicable", $"the pruned model is not a network the ggml trainer can train on: {e.Message}", e);
        }

        if (!imported.Input.Dims.SequenceEqual(data.Shape.Dims) || imported.Classes != spec.Classes!.Count)
        {
            throw new JobFailedException("fine_tune_not_applicable",
                $"the model takes {imported.Input} and gives {imported.Classes} scores; the dataset has pictures of {data.Shape} and {spec.Classes!.Count} classes");
        }

        return imported;
    }

    private static double Hyper(FineTuneSpec spec, string name, double fallback) => spec.Hyperparameters.TryGetValue(name, out var v) ? v : fallback;

    // The spec's optimiser and hyperparameters (the defaults where it names none); batches no larger than the training rows.
    private static GgmlTrainingOptions TrainingOptionsOf(FineTuneSpec spec, FineTuneData data, int threads) => new()
    {
        Optimizer = spec.Trainer!,
        LearningRate = Hyper(spec, "learning_rate", 1e-3),
        WeightDecay = Hyper(spec, "weight_decay", 0),
        Beta1 = Hyper(spec, "beta1", 0.9),
        Beta2 = Hyper(spec, "beta2", 0.999),
        BatchSize = Math.Min((int)Hyper(spec, "batch_size", 32), data.Train.Length),
        Threads = threads,
        Seed = spec.Split!.Seed,
    };

    private static GgmlNetwork CreateNetwork(ImportedNetwork imported, GgmlTrainingOptions options)
    {
        try
        {
            return GgmlNetwork.Create(imported.Layers, imported.Input, imported.Classes, options);
        }
        catch (NetworkException e)
        {
            throw new JobFailedException("fine_tune_not_applicable", $"ggml cannot build the pruned network: {e.Message}", e);
        }
    }

    // Trains up to the plan's epochs, each reported as an event and as progress, and stops early after the plan's
    // patience of epochs without a better validation loss. Returns the best epoch's weights (by validation loss; by
    // training loss when no row is held out), its number and every epoch's row.
    private static async Task<(GgmlWeights Best, int BestEpoch, List<Dictionary<string, object?>> History)> TrainEpochsAsync(
        JobRun run, GgmlNetwork network, FineTuneData data, int classes, Dictionary<(int Layer, int Tensor), int[]> zeros, EpochPlan plan, Stopwatch clock)
    {
        var history = new List<Dictionary<string, object?>>();
        GgmlWeights? best = null;
        double bestLoss = double.MaxValue;
        int bestEpoch = 0, sinceBest = 0;
        for (var epoch = 1; epoch <= plan.Epochs; epoch++)
        {
            var (row, monitored) = TrainEpoch(network, data, classes, zeros, epoch, run.CancellationToken);
            history.Add(row);
            await run.EventAsync("epoch", row);
            var stop = false;
            if (best is null || monitored < bestLoss)
            {
                (best, bestLoss, bestEpoch, sinceBest) = (network.Weights(), monitored, epoch, 0);
            }
            else if (data.Validation.Length > 0 && plan.Patience > 0 && ++sinceBest >= plan.Patience)
            {
                stop = true;
            }

            await ReportEpochAsync(run, row, epoch, plan, clock);
            if (stop)
            {
                await run.EventAsync("log", new
                {
                    message = $"fine-tune stopped early after epoch {epoch}: no better validation loss for {plan.Patience} epochs; " +
                        $"keeping epoch {bestEpoch}"
                });
                break;
            }
        }

        return (best!, bestEpoch, history);
    }

    // One epoch over the training rows (pruned zeros restored after each step), scored on the validation rows. Returns
    // the epoch's row of the history and the loss that picks the best epoch (validation loss, or training loss when no
    // row is held out).
    private static (Dictionary<string, object?> Row, double Monitored) TrainEpoch(
        GgmlNetwork network, FineTuneData data, int classes, Dictionary<(int Layer, int Tensor), int[]> zeros, int epoch, CancellationToken token)
    {
        var result = network.TrainEpoch(data.Images, data.Labels, data.Train, token, (_, _) => RestoreZeros(network, zeros));
        var (validationLoss, validationAccuracy) = data.Validation.Length > 0
            ? Score(network.Logits(data.Images, data.Validation, token), data.Validation.Select(r => data.Labels[r]).ToArray(), classes)
            : (double.NaN, double.NaN);
        var row = new Dictionary<string, object?>
        {
            ["phase"] = "fine_tune",
            ["epoch"] = epoch,
            ["train_loss"] = Finite(result.TrainLoss),
            ["train_accuracy"] = Finite(result.TrainAccuracy),
            ["validation_loss"] = Finite(validationLoss),
            ["validation_accuracy"] = Finite(validationAccuracy),
            ["seconds"] = result.Seconds,
        };
        return (row, data.Validation.Length > 0 ? validationLoss : result.TrainLoss);
    }

    // Sets the weights magnitude pruning zeroed back to zero, after an optimiser step moved them.
    private static void RestoreZeros(GgmlNetwork network, Dictionary<(int Layer, int Tensor), int[]> zeros)
    {
        if (zeros.Count == 0)
        {
            return;
        }

        var current = network.Weights();
        foreach (var ((layer, tensor), positions) in zeros)
        {
            var values = current.Layers[layer][tensor];
            foreach (var p in positions)
            {
                values[p] = 0;
            }
        }

        network.Restore(current);
    }

    // The job's progress after an epoch: its share of the plan's range, the epoch's metrics and the time left at this pace.
    private static Task ReportEpochAsync(JobRun run, Dictionary<string, object?> row, int epoch, EpochPlan plan, Stopwatch clock)
    {
        var done = (double)epoch / plan.Epochs;
        var metrics = row.Where(kv => kv.Value is double && kv.Key != "seconds").ToDictionary(kv => kv.Key, kv => (double)kv.Value!);
        return run.ReportAsync(new JobProgress
        {
            Percent = plan.FromPercent + ((plan.ToPercent - plan.FromPercent) * done),
            Stage = "fine-tuning",
            Epoch = epoch,
            Metrics = metrics,
            EtaSeconds = clock.Elapsed.TotalSeconds * (1 - done) / done,
        });
    }

    // What the fine-tune's report shows of the run.
    private static Dictionary<string, object?> Report(
        FineTuneSpec spec, FineTuneData data, ImportedNetwork imported, List<Dictionary<string, object?>> history, int bestEpoch, long? zerosKept, double seconds) => new()
        {
            ["dataset"] = spec.Dataset!.Name,
            ["version"] = spec.Dataset.Version,
            ["label"] = spec.Label,
            ["features"] = new[] { spec.Image },
            ["trainer"] = spec.Trainer,
            ["hyperparameters"] = spec.Hyperparameters,
            ["split"] = spec.Split,
            ["train_rows"] = data.Train.Length,
            ["validation_rows"] = data.Validation.Length,
            ["test_rows"] = data.Test.Length,
            ["rows_skipped"] = data.Skipped,
            ["epochs"] = history,
            ["best_epoch"] = bestEpoch,
            ["network"] = imported.Layers,
            ["import_notes"] = imported.Notes.Count > 0 ? imported.Notes : null,
            ["zeros_kept"] = zerosKept,
            ["engine"] = GgmlNetwork.Engine,
            ["seconds"] = seconds,
        };

    /// <summary>
    /// The share of <paramref name="rows"/> whose largest logit the model at <paramref name="path"/> (run by ONNX Runtime)
    /// puts on the row's label. <paramref name="cancellationToken"/> is checked before each batch and terminates a batch's
    /// run (ONNX Runtime's run options) at its next node.
    /// </summary>
    public static double Accuracy(string path, string input, string logits, FineTuneData data, int[] rows, int classes, CancellationToken cancellationToken = default)
    {
        using var options = new OnnxSessionOptions { IntraOpThreads = 1, InterOpThreads = 1 };
        using var session = OnnxSession.Open(path, options);
        var size = (int)data.Shape.Size;
        var right = 0;
        const int Batch = 256;
        for (var start = 0; start < rows.Length; start += Batch)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var count = Math.Min(Batch, rows.Length - start);
            var values = new float[count * size];
            for (var i = 0; i < count; i++)
            {
                Array.Copy(data.Images, (long)rows[start + i] * size, values, (long)i * size, size);
            }

            using var tensor = OnnxTensor.Create(values, count, data.Shape.Dims[0], data.Shape.Dims[1], data.Shape.Dims[2]);
            using var outputs = session.Run([new(input, tensor)], [logits], cancellationToken: cancellationToken);
            var scores = outputs[0].GetData<float>();
            for (var i = 0; i < count; i++)
            {
                var row = scores.Slice(i * classes, classes);
                var top = 0;
                for (var c = 1; c < classes; c++)
                {
                    top = row[c] > row[top] ? c : top;
                }

                right += top == data.Labels[rows[start + i]] ? 1 : 0;
            }
        }

        return (double)right / rows.Length;
    }

    // The zeros of each dense and conv2d weight (their first tensor; biases and norms are not pruned).
    private static Dictionary<(int Layer, int Tensor), int[]> Zeros(ImportedNetwork network)
    {
        var result = new Dictionary<(int, int), int[]>();
        foreach (var (layer, tensors) in network.Weights.Layers)
        {
            var w = tensors[0];
            var positions = network.Layers[layer].Type is "dense" or "conv2d" ? Enumerable.Range(0, w.Length).Where(i => w[i] == 0).ToArray() : [];
            if (positions.Length > 0)
            {
                result[(layer, 0)] = positions;
            }
        }

        return result;
    }

    private static (double Loss, double Accuracy) Score(float[] logits, int[] labels, int classes)
    {
        double loss = 0;
        var right = 0;
        for (var i = 0; i < labels.Length; i++)
        {
            var row = logits.AsSpan(i * classes, classes);
            var max = float.NegativeInfinity;
            var top = 0;
            for (var c = 0; c < classes; c++)
            {
                (max, top) = row[c] > max ? (row[c], c) : (max, top);
            }

            double sum = 0;
            foreach (var v in row)
            {
                sum += Math.Exp(v - max);
            }

            loss -= row[labels[i]] - max - Math.Log(sum);
            right += top == labels[i] ? 1 : 0;
        }

        return (loss / labels.Length, (double)right / labels.Length);
    }

    private static double? Finite(double value) => double.IsFinite(value) ? value : null;

    private static int IndexOf(IReadOnlyList<string> classes, string key)
    {
        for (var i = 0; i < classes.Count; i++)
        {
            if (classes[i] == key)
            {
                return i;
            }
        }

        return -1;
    }
}
