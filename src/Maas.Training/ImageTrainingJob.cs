using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Maas.Core.Jobs;
using Maas.Core.Jobs.Queue;
using Maas.Core.Registry;
using Maas.Core.Training;
using Maas.Runtimes.Ggml;

namespace Maas.Training;

/// <summary>
/// An image-classification job: trains the network on ggml epoch by epoch (a validation pass, a checkpoint and an
/// "epoch" event after each; early stopping on the validation loss), keeps the best epoch's weights, evaluates on the
/// test split, exports to ONNX, checks ONNX Runtime's scores against ggml's on every test row, and registers. With
/// <paramref name="servingYield"/>, training gives way to serving in this process (its stage says so while it does).
/// </summary>
internal sealed class ImageTrainingJob(JobRun run, TrainingSpec spec, TabularData data, int threads, int nice, ServingYield? servingYield = null)
{
    /// <summary>The job's stage while it trains and serving is idle.</summary>
    public const string TrainingStage = "training";

    /// <summary>The job's stage while it trains and gives way to serving (epochs are slower).</summary>
    public const string YieldingStage = "training (yielding to serving)";

    private const string EpochStage = "epoch";

    // How often progress is reported within an epoch (an epoch of a large dataset takes minutes).
    private static readonly TimeSpan BatchReportInterval = TimeSpan.FromSeconds(1);

    /// <summary>Registers the exported file: (metadata, lineage, evaluation, ONNX path) → version number.</summary>
    public delegate Task<int> Register(Dictionary<string, string> metadata, Dictionary<string, object?> lineage, Dictionary<string, object?> evaluation, string onnx);

    /// <summary>Trains, evaluates on the test split, exports, checks the export and registers; <paramref name="searchReport"/> (the trials that chose the hyperparameters) goes
    /// into the lineage.</summary>
    public async Task<string> RunAsync(Register register, object? searchReport = null)
    {
        var images = ImageData.From(data);
        var (train, validation, test) = data.Split();
        if (train.Length < 1 || test.Length < 1)
        {
            throw new JobFailedException("dataset_too_small", $"the split leaves {train.Length} training and {test.Length} test images; the dataset needs more labelled images");
        }

        var classes = data.Classes!.Count;
        var (network, state) = await TrainAsync(images, train, validation, checkpoints: true);
        using var trained = network;
        network.Restore(state.Best!);
        await run.ReportAsync(new JobProgress { Percent = 80, Stage = "evaluating", Epoch = state.Epoch });
        var logits = network.Logits(images.Images, test, run.CancellationToken);
        var probabilities = test.Select((_, i) => ImageData.Softmax(logits.AsSpan(i * classes, classes))).ToArray();
        var predictions = TrainingJobHandler.Finite(new Predictions(null, probabilities.Select(p => Array.IndexOf(p, p.Max())).ToArray(), probabilities), "test");
        var evaluation = Evaluator.Classification(test.Select(r => images.Labels[r]).ToArray(), predictions, data.Classes, binary: classes == 2);
        evaluation["epochs"] = state.History;
        evaluation["best_epoch"] = state.BestEpoch;
        await run.EventAsync("metrics", new { split = "test", metrics = evaluation });

        await run.ReportAsync(new JobProgress { Percent = 88, Stage = "exporting", Metrics = Evaluator.Headline(evaluation, "test_") });
        var onnx = Path.Combine(run.WorkDir, "model.onnx");
        NetworkOnnx.Export(network, state.Best!).Save(onnx);
        var (maxDiff, mismatches) = ImageOnnx.Compare(logits, ImageOnnx.Logits(onnx, images.Images, test, images.Shape.Dims));
        if (mismatches > 0)
        {
            throw new JobFailedException("export_mismatch", $"the exported ONNX model's scores differ from ggml's by more than 1e-4 in {mismatches} values over {test.Length} " +
                $"test images (largest {maxDiff.ToString("G4", CultureInfo.InvariantCulture)}); nothing was registered");
        }

        evaluation["onnx_check"] = new Dictionary<string, object?> { ["rows"] = test.Length, ["mismatches"] = 0, ["max_abs_diff"] = maxDiff };
        var info = new ImageModelInfo(NetworkOnnx.Input, images.Shape.Dims, NetworkOnnx.Logits, NetworkOnnx.Probabilities, data.Classes);
        var metadata = new Dictionary<string, string> { [ImageModelInfo.MetadataKey] = JsonSerializer.Serialize(info, RegistryJson.Options) };
        var lineage = new Dictionary<string, object?>
        {
            ["network"] = network.Layers,
            ["epochs_trained"] = state.Epoch,
            ["best_epoch"] = state.BestEpoch,
            ["engine"] = GgmlNetwork.Engine,
        };
        if (searchReport is not null)
        {
            lineage["search"] = searchReport;
        }

        await run.ReportAsync(new JobProgress { Percent = 95, Stage = "registering", Metrics = Evaluator.Headline(evaluation, "test_") });
        var version = await register(metadata, lineage, evaluation, onnx);
        return JsonSerializer.Serialize(new TrainingResult(spec.Model, version, evaluation) { Search = searchReport }, RegistryJson.Options);
    }

    /// <summary>
    /// One trial of a hyperparameter search: trains on the training split with the spec's hyperparameters (early stopping
    /// on the validation loss, no checkpoints) and returns the best epoch's validation metrics; nothing is exported.
    /// </summary>
    public async Task<Dictionary<string, double>> TrialAsync()
    {
        var images = ImageData.From(data);
        var (train, validation, _) = data.Split();
        if (train.Length < 1 || validation.Length < 1)
        {
            throw new JobFailedException("dataset_too_small", $"the split leaves {train.Length} training and {validation.Length} validation images; a search needs both");
        }

        var (network, state) = await TrainAsync(images, train, validation, checkpoints: false);
        using var trained = network;
        network.Restore(state.Best!);
        await run.ReportAsync(new JobProgress { Percent = 85, Stage = "evaluating", Epoch = state.Epoch });
        var metrics = Evaluate(images, network, validation);
        metrics["best_epoch"] = state.BestEpoch;
        await run.EventAsync("metrics", new { split = "validation", metrics });
        return Evaluator.Headline(metrics, "");
    }

    // Trains epoch by epoch (a validation pass and an "epoch" event after each; early stopping on the validation loss),
    // resuming from and saving epoch checkpoints when asked; the returned network is the caller's to dispose.
    private async Task<(GgmlNetwork Network, CheckpointState State)> TrainAsync(ImageData images, int[] train, int[] validation, bool checkpoints)
    {
        var clock = Stopwatch.StartNew();
        var epochs = (int)Hyper("epochs", 10);
        var patience = (int)Hyper("patience", 3);
        var options = OptionsOf(train.Length);
        var network = CreateNetwork(images.Shape, data.Classes!.Count, options);
        var gate = servingYield?.NewGate();
        gate?.ReportTo(run, "yielding", "training", TrainingStage, YieldingStage);

        try
        {
            var state = checkpoints && await ResumeAsync(network) is { } resumed ? resumed : new CheckpointState();
            var history = new List<Dictionary<string, object?>>(state.History);
            var weightsFile = Path.Combine(run.WorkDir, "weights.bin");
            var batches = new BatchProgress(run, clock, epochs, gate);
            for (var epoch = state.Epoch + 1; epoch <= epochs && !state.Stopped; epoch++)
            {
                var (row, monitored) = TrainEpoch(network, images, train, validation, epoch, gate, batches);
                history.Add(row);
                await run.EventAsync("epoch", row);
                await KeepBestAsync(state, network, monitored, epoch, validation.Length > 0, patience);
                state.Epoch = epoch;
                state.History = history;
                if (checkpoints)
                {
                    WeightsFile.Write(weightsFile, network.Weights(), state.Best!, network.OptimizerState());
                    await run.SaveCheckpointAsync(EpochStage, weightsFile, state);
                }

                await ReportEpochAsync(row, epoch, epochs, (long)epoch * (train.Length / options.BatchSize), gate, clock);
            }

            return (network, state);
        }
        catch
        {
            network.Dispose();
            throw;
        }
    }

    private double Hyper(string name, double fallback) => spec.Hyperparameters.TryGetValue(name, out var v) ? v : fallback;

    // The spec's optimiser and hyperparameters (the defaults where it names none); batches no larger than the training rows.
    private GgmlTrainingOptions OptionsOf(int trainRows) => new()
    {
        Optimizer = spec.Trainer,
        LearningRate = Hyper("learning_rate", 1e-3),
        WeightDecay = Hyper("weight_decay", 0),
        Beta1 = Hyper("beta1", 0.9),
        Beta2 = Hyper("beta2", 0.999),
        BatchSize = Math.Min((int)Hyper("batch_size", 32), trainRows),
        Threads = threads,
        Nice = nice,
        Seed = spec.Split.Seed,
    };

    private static string StageOf(ServingYieldGate? gate) => gate?.Stage(TrainingStage, YieldingStage) ?? TrainingStage;

    // The state of an earlier attempt's last epoch checkpoint, with its weights (and the optimiser's, when saved) put
    // back into `network`; null when there is none.
    private async Task<CheckpointState?> ResumeAsync(GgmlNetwork network)
    {
        if (run.Job.Checkpoint is not { Stage: EpochStage, Data: { } saved } || await run.CheckpointFileAsync() is not { } file)
        {
            return null;
        }

        var state = JsonSerializer.Deserialize<CheckpointState>(saved, RegistryJson.Options) ?? new();
        var (current, best, optimizer) = WeightsFile.Read(file);
        network.Restore(current);
        state.Best = best;
        if (optimizer is not null)
        {
            network.RestoreOptimizer(optimizer);
            await run.EventAsync("log", new
            {
                message = $"resumed after epoch {state.Epoch} from the checkpoint of an earlier attempt, with the optimiser's state " +
                    $"(step {optimizer.Steps})"
            });
        }
        else
        {
            await run.EventAsync("log", new
            {
                message = $"resumed after epoch {state.Epoch} from the checkpoint of an earlier attempt (the checkpoint has no optimiser state: " +
                    $"the optimiser's moments restart)"
            });
        }

        return state;
    }

    // One epoch over the training rows and a validation pass. Returns the epoch's row of the history and the loss early
    // stopping watches (the validation loss; the training loss without a validation split, so the last epoch is kept).
    private (Dictionary<string, object?> Row, double Monitored) TrainEpoch(
        GgmlNetwork network, ImageData images, int[] train, int[] validation, int epoch, ServingYieldGate? gate, BatchProgress batches)
    {
        var classes = data.Classes!.Count;
        var (servingBatches, waited) = gate is null ? (0, TimeSpan.Zero) : (gate.ServingBatches, gate.Waited);
        var result = network.TrainEpoch(images.Images, images.Labels, train, run.CancellationToken, (done, count) => batches.Done(epoch, done, count), gate);
        var (validationLoss, validationAccuracy) =
            validation.Length > 0 ? images.Score(network.Logits(images.Images, validation, run.CancellationToken, gate), validation, classes) : (double.NaN, double.NaN);
        var row = new Dictionary<string, object?>
        {
            ["epoch"] = epoch,
            ["train_loss"] = Finite(result.TrainLoss),
            ["train_accuracy"] = Finite(result.TrainAccuracy),
            ["validation_loss"] = Finite(validationLoss),
            ["validation_accuracy"] = Finite(validationAccuracy),
            ["seconds"] = result.Seconds,
            ["images_per_second"] = result.Seconds > 0 ? result.Examples / result.Seconds : null,
            ["threads"] = result.Threads,
        };
        if (gate is not null)
        {
            // Why an epoch was slower: the batches that overlapped serving, and the time it gave to serving.
            row["serving_batches"] = gate.ServingBatches - servingBatches;
            row["yielded_seconds"] = (gate.Waited - waited).TotalSeconds;
        }

        return (row, validation.Length > 0 ? validationLoss : result.TrainLoss);
    }

    // Keeps the epoch's weights when its monitored loss is the best yet; otherwise, with a validation split, counts
    // towards stopping early after `patience` epochs without a better one.
    private async Task KeepBestAsync(CheckpointState state, GgmlNetwork network, double monitored, int epoch, bool validates, int patience)
    {
        if (state.Best is null || monitored < state.BestLoss)
        {
            (state.Best, state.BestLoss, state.BestEpoch, state.SinceBest) = (network.Weights(), monitored, epoch, 0);
        }
        else if (validates && patience > 0 && ++state.SinceBest >= patience)
        {
            state.Stopped = true;
            await run.EventAsync("log", new { message = $"stopped early after epoch {epoch}: no better validation loss for {patience} epochs; keeping epoch {state.BestEpoch}" });
        }
    }

    // The job's progress after an epoch: its share of training (2 to 80 percent), the epoch's metrics and the time left at this pace.
    private Task ReportEpochAsync(Dictionary<string, object?> row, int epoch, int epochs, long iteration, ServingYieldGate? gate, Stopwatch clock)
    {
        var metrics = row.Where(kv => kv.Value is double && kv.Key != "seconds").ToDictionary(kv => kv.Key, kv => (double)kv.Value!);
        var done = (double)epoch / epochs;
        return run.ReportAsync(new JobProgress
        {
            Percent = 2 + (78 * done),
            Stage = StageOf(gate),
            Epoch = epoch,
            Iteration = iteration,
            Metrics = metrics,
            EtaSeconds = clock.Elapsed.TotalSeconds * (1 - done) / Math.Max(done, 1e-9)
        });
    }

    // Progress within an epoch, reported at most once per BatchReportInterval: percent, step and stage.
    private sealed class BatchProgress(JobRun run, Stopwatch clock, int epochs, ServingYieldGate? gate)
    {
        private DateTimeOffset _lastReport = run.Time.GetUtcNow();

        public void Done(int epoch, int done, int batches)
        {
            var now = run.Time.GetUtcNow();
            if (now - _lastReport < BatchReportInterval)
            {
                return;
            }

            _lastReport = now;
            var part = (epoch - 1 + ((double)done / batches)) / epochs;
            var progress = run.Progress with
            {
                Percent = 2 + (78 * part),
                Stage = StageOf(gate),
                Epoch = epoch - 1,
                Iteration = ((long)(epoch - 1) * batches) + done,
                EtaSeconds = clock.Elapsed.TotalSeconds * (1 - part) / Math.Max(part, 1e-9),
            };
            run.ReportAsync(progress).GetAwaiter().GetResult();
        }
    }

    // Classification metrics of the network's scores on `rows`.
    private Dictionary<string, object?> Evaluate(ImageData images, GgmlNetwork network, int[] rows)
    {
        var classes = data.Classes!.Count;
        var logits = network.Logits(images.Images, rows, run.CancellationToken);
        var probabilities = rows.Select((_, i) => ImageData.Softmax(logits.AsSpan(i * classes, classes))).ToArray();
        var predictions = TrainingJobHandler.Finite(new Predictions(null, probabilities.Select(p => Array.IndexOf(p, p.Max())).ToArray(), probabilities), "validation");
        return Evaluator.Classification(rows.Select(r => images.Labels[r]).ToArray(), predictions, data.Classes, binary: classes == 2);
    }

    private static double? Finite(double value) => double.IsFinite(value) ? value : null;

    private GgmlNetwork CreateNetwork(NetworkShape shape, int classes, GgmlTrainingOptions options)
    {
        try
        {
            return GgmlNetwork.Create(spec.Network ?? NetworkShapes.DefaultCnn, shape, classes, options);
        }
        catch (NetworkException e)
        {
            throw new JobFailedException("invalid_network", e.Message);
        }
    }

    /// <summary>What an epoch checkpoint stores besides the weights file.</summary>
    private sealed class CheckpointState
    {
        public int Epoch { get; set; }

        public int BestEpoch { get; set; }

        public double BestLoss { get; set; } = double.MaxValue;

        public int SinceBest { get; set; }

        public bool Stopped { get; set; }

        public List<Dictionary<string, object?>> History { get; set; } = [];

        [System.Text.Json.Serialization.JsonIgnore]
        public GgmlWeights? Best { get; set; }
    }
}
