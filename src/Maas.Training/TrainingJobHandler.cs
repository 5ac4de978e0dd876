using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Maas.Core.Datasets;
using Maas.Core.Jobs;
using Maas.Core.Jobs.Queue;
using Maas.Core.Registry;
using Maas.Core.Training;
using Microsoft.ML;
using Microsoft.ML.Data;

namespace Maas.Training;

/// <summary>
/// Runs "training" jobs. Images go to <see cref="ImageTrainingJob"/> (ggml); for tables it loads the dataset version, splits it, fits the ML.NET pipeline (checkpointed, so a
/// worker that takes the job over skips a finished fit), evaluates on the test split, exports to ONNX, checks that
/// ONNX Runtime answers like ML.NET on every test row, and registers the version once. With <paramref name="servingYield"/>,
/// a neural network's training gives way to serving in this process (ML.NET's fits do not: they have no batch loop to pause).
/// </summary>
public sealed class TrainingJobHandler(DatasetCatalog datasets, IDatasetStore datasetStore, IModelRegistry registry, int threads, int nice = 0,
    ServingYield? servingYield = null) : IJobHandler, IReadsDatasets
{
    private const string TrainedStage = "trained";

    /// <summary>The job's percent when the fit starts and when it ends (a FastTree fit reports its trees in between; the boosting curve follows up to 70).</summary>
    internal const double FitFromPercent = 10, FitToPercent = 55;

    /// <inheritdoc />
    public string Kind => TrainingSpec.Kind;

    /// <inheritdoc />
    public IEnumerable<DatasetReference> DatasetsOf(string spec) => SpecDatasets.Read<TrainingSpec>(spec, s => [s.Dataset]);

    /// <inheritdoc />
    public async Task<string> RunAsync(JobRun run)
    {
        var spec = JsonSerializer.Deserialize<TrainingSpec>(run.Job.Spec, RegistryJson.Options) ?? throw new JobFailedException("invalid_spec", "the job has no spec");
        object? searchReport = null;
        if (spec.Search is not null)
        {
            // The trials run first as child jobs; the best one's hyperparameters are then trained below like any job.
            (spec, searchReport) = await TrainingSearchRunner.RunAsync(run, spec);
        }

        var clock = Stopwatch.StartNew();
        var data = await LoadAsync(run, spec);
        if (spec.Task == TrainingNames.ImageClassification)
        {
            return await new ImageTrainingJob(run, spec, data, threads, nice, servingYield).RunAsync(
                (metadata, lineage, evaluation, onnx) => RegisterAsync(run, spec, metadata, lineage, evaluation, onnx), searchReport);
        }

        var (train, validation, test) = data.Split();
        if (train.Length < 2 || test.Length < 1)
        {
            throw new JobFailedException("dataset_too_small", $"the split leaves {train.Length} training and {test.Length} test rows; the dataset needs more labelled rows");
        }

        var onnx = Path.Combine(run.WorkDir, "model.onnx");
        Dictionary<string, object?> evaluation;
        Dictionary<string, double> headline;
        TabularModelInfo info;

        // The job's token stops ML.NET wherever it is (the fit above all, which can run for minutes): a cancel ends the
        // job cancelled at the trainer's next check, before anything is registered, like a cancel between epochs.
        using (var trainer = new TabularTrainer(data, threads, run.CancellationToken))
        {
            try
            {
                var model = await FitOrResumeAsync(run, spec, trainer, data, train, validation);

                await run.ReportAsync(new JobProgress { Percent = 70, Stage = "evaluating", EtaSeconds = clock.Elapsed.TotalSeconds * 0.3 / 0.7 });
                (var mlnet, evaluation, headline) = await EvaluateAsync(run, trainer, model, data, validation, test);

                await run.ReportAsync(new JobProgress { Percent = 80, Stage = "exporting", Metrics = headline, EtaSeconds = clock.Elapsed.TotalSeconds * 0.2 / 0.8 });
                var featuresOnly = trainer.Load(data.Write(Path.Combine(run.WorkDir, "test-features.tsv"), test, withLabel: false, run.CancellationToken), withLabel: false);
                trainer.Export(model, featuresOnly, onnx);
                run.CancellationToken.ThrowIfCancellationRequested();
                info = Describe(spec, data, onnx);
                evaluation["onnx_check"] = CheckOnnx(onnx, info, data, test, mlnet, run.CancellationToken);
            }
            catch (Exception e) when (e is not OperationCanceledException && trainer.AsCancellation(e) is { } cancelled)
            {
                throw cancelled;
            }
        }

        await run.ReportAsync(new JobProgress { Percent = 90, Stage = "registering", Metrics = headline });
        var metadata = new Dictionary<string, string> { [TabularModelInfo.MetadataKey] = JsonSerializer.Serialize(info, RegistryJson.Options) };
        var trainerLineage = new Dictionary<string, object?> { ["ml_net_version"] = typeof(MLContext).Assembly.GetName().Version?.ToString() };
        if (searchReport is not null)
        {
            trainerLineage["search"] = searchReport;
        }

        var registered = await RegisterAsync(run, spec, metadata, trainerLineage, evaluation, onnx);
        return JsonSerializer.Serialize(new TrainingResult(spec.Model, registered, evaluation) { Search = searchReport }, RegistryJson.Options);
    }

    /// <summary>Loads the dataset version the job was submitted with (failing the job when its content changed since) as tabular data.</summary>
    private async Task<TabularData> LoadAsync(JobRun run, TrainingSpec spec)
    {
        await run.ReportAsync(new JobProgress { Percent = 1, Stage = "loading" });
        var version = await datasets.GetVersionAsync(spec.Dataset.Name, spec.Dataset.Version, run.CancellationToken);
        if (version.Sha256 != spec.Dataset.Sha256)
        {
            throw new JobFailedException("dataset_changed", $"dataset '{spec.Dataset.Name}' version {spec.Dataset.Version} no longer has the content the job was submitted with");
        }

        var table = await datasets.LoadAsync(version, run.CancellationToken);
        return TabularData.From(spec, table);
    }

    /// <summary>
    /// The fitted model: loaded from the checkpoint an earlier attempt saved after its fit, or fitted here (with the
    /// per-iteration curve of boosted trees) and checkpointed.
    /// </summary>
    private static async Task<ITransformer> FitOrResumeAsync(JobRun run, TrainingSpec spec, TabularTrainer trainer, TabularData data, int[] train, int[] validation)
    {
        var trainView = trainer.Load(data.Write(Path.Combine(run.WorkDir, "train.tsv"), train, cancellationToken: run.CancellationToken), withLabel: true);
        var labelMapping = trainer.LabelMapping(trainView);
        var zip = Path.Combine(run.WorkDir, "model.zip");
        if (run.Job.Checkpoint?.Stage == TrainedStage && await run.CheckpointFileAsync() is { } saved)
        {
            var resumed = trainer.Load(saved);
            await run.EventAsync("log", new { message = $"resumed from checkpoint '{TrainedStage}' saved by an earlier attempt; the fit is not repeated" });
            return resumed;
        }

        var mappedTrain = labelMapping.Transform(trainView);
        await run.ReportAsync(new JobProgress { Percent = FitFromPercent, Stage = "training" });
        run.CancellationToken.ThrowIfCancellationRequested();
        var fitClock = Stopwatch.StartNew();
        ITransformer model;
        using var progress = FitProgress.Watch(run, trainer, FitFromPercent, FitToPercent);
        try
        {
            model = Fit(trainer, mappedTrain, spec);
        }
        catch (OperationCanceledException) when (run.CancellationToken.IsCancellationRequested)
        {
            // The trainer stopped at its next check rather than at its end: say how far the fit had come.
            await run.EventAsync("log", new
            {
                message = $"the fit was stopped after {fitClock.Elapsed.TotalSeconds.ToString("0.0", CultureInfo.InvariantCulture)} s: the job " +
                    $"was cancelled or its worker stopped",
                fit_seconds = fitClock.Elapsed.TotalSeconds
            });
            throw;
        }

        run.CancellationToken.ThrowIfCancellationRequested();
        if (progress is not null)
        {
            await progress.FinishAsync(model, spec.Task);
        }

        if (spec.Trainer is "lightgbm" or "fasttree")
        {
            await ReportIterationsAsync(run, trainer, model, data, mappedTrain, train, validation);
        }

        trainer.Save(model, trainView, zip);
        await run.SaveCheckpointAsync(TrainedStage, zip, new { fit_seconds = fitClock.Elapsed.TotalSeconds });
        return model;
    }

    /// <summary>
    /// Evaluates the model on the validation split (when there is one) and the test split, emitting a "metrics" event
    /// for each: the test predictions, the test metrics and the headline metrics of both.
    /// </summary>
    private static async Task<(Predictions Test, Dictionary<string, object?> Evaluation, Dictionary<string, double> Headline)> EvaluateAsync(
        JobRun run, TabularTrainer trainer, ITransformer model, TabularData data, int[] validation, int[] test)
    {
        Dictionary<string, double>? validationHeadline = null;
        if (validation.Length > 0)
        {
            var validationMetrics = Evaluate(data, validation, Finite(Predict(trainer, model, data, validation, run.WorkDir, "validation"), "validation"));
            validationHeadline = Evaluator.Headline(validationMetrics, "validation_");
            await run.EventAsync("metrics", new { split = "validation", metrics = validationMetrics });
        }

        var mlnet = Finite(Predict(trainer, model, data, test, run.WorkDir, "test"), "test");
        var evaluation = Evaluate(data, test, mlnet);
        await run.EventAsync("metrics", new { split = "test", metrics = evaluation });
        var headline = Evaluator.Headline(evaluation, "test_");
        foreach (var (k, v) in validationHeadline ?? [])
        {
            headline[k] = v;
        }

        return (mlnet, evaluation, headline);
    }

    /// <summary>
    /// Emits an "iteration" event per boosting iteration (every n-th for long runs) with the training and validation
    /// metrics of the model made of the trees up to it, like the "epoch" events of a network, and reports it as progress.
    /// </summary>
    private static async Task ReportIterationsAsync(JobRun run, TabularTrainer trainer, ITransformer model, TabularData data, IDataView mappedTrain, int[] train, int[] validation)
    {
        var (curve, reason) = BoostedTreeCurve.From(model, data.Spec.Task);
        BoostedTreeCurve.Rows? trainRows = null, validationRows = null;
        if (curve is not null)
        {
            (trainRows, reason) = curve.Prepare(model.Transform(mappedTrain), train, data);
        }

        if (curve is not null && trainRows is not null && validation.Length > 0)
        {
            var view = trainer.Load(data.Write(Path.Combine(run.WorkDir, "curve-validation.tsv"), validation, withLabel: false, run.CancellationToken), withLabel: false);
            (validationRows, reason) = curve.Prepare(model.Transform(view), validation, data);
        }

        if (curve is null || trainRows is null || (validation.Length > 0 && validationRows is null))
        {
            await run.EventAsync("log", new { message = $"no per-iteration curve: {reason}" });
            return;
        }

        var iterations = curve.Iterations;
        var step = Math.Max(1, (int)Math.Ceiling(iterations / (double)BoostedTreeCurve.MaxPoints));
        for (var k = Math.Min(step, iterations); k <= iterations; k = k == iterations ? k + 1 : Math.Min(k + step, iterations))
        {
            run.CancellationToken.ThrowIfCancellationRequested();
            var metrics = curve.Point(trainRows, k, "train_");
            foreach (var (name, value) in validationRows is null ? [] : curve.Point(validationRows, k, "validation_"))
            {
                metrics[name] = value;
            }

            var row = new Dictionary<string, object?> { ["iteration"] = k };
            foreach (var (name, value) in metrics)
            {
                row[name] = double.IsFinite(value) ? value : null;
            }

            await run.EventAsync("iteration", row);
            await run.ReportAsync(new JobProgress
            {
                Percent = 55 + (15.0 * k / iterations),
                Stage = "iterations",
                Iteration = k,
                Metrics = metrics.Where(kv => double.IsFinite(kv.Value)).ToDictionary()
            });
        }
    }

    /// <summary>
    /// Fits the pipeline, stopped by the trainer's token (<see cref="TabularTrainer.Cancellation"/>) at the trainer's next
    /// check; ML.NET refusing the data (no rows left once non-finite labels are dropped, a non-finite bias or
    /// weight from features it cannot scale) fails the job with its reason instead of as an unexpected error.
    /// </summary>
    internal static ITransformer Fit(TabularTrainer trainer, IDataView train, TrainingSpec spec)
    {
        try
        {
            return trainer.Fit(train);
        }
        catch (Exception e) when (e is not OperationCanceledException && trainer.AsCancellation(e) is { } cancelled)
        {
            // Stopped by the job's token (wrapped by ML.NET's worker threads): the job's cancellation, not a failed fit.
            throw cancelled;
        }
        catch (Exception e) when (e is InvalidOperationException or ArgumentException && e is not ObjectDisposedException)
        {
            throw new JobFailedException("training_failed", $"ML.NET could not fit {spec.Trainer} ({spec.Task}) on this data: {e.Message}");
        }
    }

    /// <summary>
    /// The predictions when every score is a finite number; a model that scores NaN or infinity (a fit that diverged)
    /// fails the job, so it is neither evaluated into metrics JSON cannot carry nor registered.
    /// </summary>
    internal static Predictions Finite(Predictions predicted, string split)
    {
        var rows = predicted.Values?.Length ?? predicted.Probabilities?.Length ?? 0;
        var bad = predicted.Values?.Count(v => !double.IsFinite(v))
            ?? predicted.Probabilities?.Count(p => p.Any(x => !double.IsFinite(x)))
            ?? 0;
        if (bad > 0)
        {
            throw new JobFailedException(
                "training_diverged",
                $"the fitted model scores {bad} of {rows} {split} rows as NaN or infinity (the fit diverged); nothing was registered. Rescale the columns or " +
                $"lower the learning rate");
        }

        return predicted;
    }

    internal static Dictionary<string, object?> Evaluate(TabularData data, int[] rows, Predictions predicted)
    {
        if (data.Classes is null)
        {
            return Evaluator.Regression(rows.Select(r => (double)data.Table.Rows[r][data.LabelIndex]!).ToArray(), predicted.Values!);
        }

        var truth = rows.Select(r => data.IndexOfClass(data.Table.Rows[r][data.LabelIndex]!)).ToArray();
        return Evaluator.Classification(truth, predicted, data.Classes, data.Spec.Task == TrainingNames.Binary);
    }

    internal static Predictions Predict(TabularTrainer trainer, ITransformer model, TabularData data, int[] rows, string workDir, string name)
    {
        var view = trainer.Load(data.Write(Path.Combine(workDir, name + "-features.tsv"), rows, withLabel: false, trainer.Cancellation), withLabel: false);
        var scored = model.Transform(view);
        switch (data.Spec.Task)
        {
            case TrainingNames.Regression:
                return new Predictions(scored.GetColumn<float>("Score").Select(v => (double)v).ToArray(), null, null);
            case TrainingNames.Binary:
                var labels = scored.GetColumn<bool>("PredictedLabel").ToArray();
                var probabilities = scored.GetColumn<float>("Probability").ToArray();
                return new Predictions(null, labels.Select(l => l ? 1 : 0).ToArray(), probabilities.Select(p => new[] { 1 - (double)p, p }).ToArray());
            default:
                var scores = scored.GetColumn<VBuffer<float>>("Score").Select(v => v.DenseValues().Select(x => (double)x).ToArray()).ToArray();
                return Classes(scores);
        }
    }

    // Multiclass answers from the score vector: the class is its largest entry; probabilities are it normalised.
    private static Predictions Classes(double[][] scores)
    {
        var classes = scores.Select(s => Array.IndexOf(s, s.Max())).ToArray();
        var probabilities = scores.Select(s =>
        {
            var sum = s.Sum();
            return sum > 0 ? s.Select(x => x / sum).ToArray() : s;
        }).ToArray();
        return new Predictions(null, classes, probabilities);
    }

    private static TabularModelInfo Describe(TrainingSpec spec, TabularData data, string onnx)
    {
        var outputs = Maas.Core.Formats.Onnx.OnnxModelReader.Read(onnx).Outputs.Select(o => o.Name).ToArray();
        string? Find(string column) => outputs.FirstOrDefault(o => o == column + ".output") ?? outputs.FirstOrDefault(o => o.StartsWith(column, StringComparison.Ordinal));
        return new TabularModelInfo
        {
            Task = spec.Task,
            Features = spec.Features,
            Classes = data.Classes,
            NumericLabel = data.NumericLabel,
            ScoreOutput = Find("Score") ?? throw new JobFailedException("export_failed", $"the exported ONNX model has no Score output (outputs: {string.Join(", ", outputs)})"),
            LabelOutput = spec.Task == TrainingNames.Binary ? Find("PredictedLabel") : null,
            ProbabilityOutput = spec.Task == TrainingNames.Binary ? Find("Probability") : null,
        };
    }

    /// <summary>Runs the exported model on ONNX Runtime over the test rows and compares it with ML.NET's answers.</summary>
    private static Dictionary<string, object?> CheckOnnx(string onnx, TabularModelInfo info, TabularData data, int[] rows, Predictions mlnet, CancellationToken cancellationToken)
    {
        var rowsOfCells = rows.Select(r => info.Features.Select((f, i) => data.Table.Rows[r][data.FeatureIndexes[i]]).ToArray()).ToArray();
        var served = TabularOnnx.Run(onnx, info, rowsOfCells, cancellationToken);
        var mismatches = 0;
        double maxDiff = 0;
        for (var i = 0; i < rows.Length; i++)
        {
            if (mlnet.Values is not null)
            {
                var diff = Math.Abs(mlnet.Values[i] - served.Values![i]);
                maxDiff = Math.Max(maxDiff, diff);
                if (diff > 1e-4 * (1 + Math.Abs(mlnet.Values[i])))
                {
                    mismatches++;
                }

                continue;
            }

            if (mlnet.Classes![i] != served.Classes![i])
            {
                mismatches++;
            }

            for (var c = 0; c < mlnet.Probabilities![i].Length; c++)
            {
                maxDiff = Math.Max(maxDiff, Math.Abs(mlnet.Probabilities[i][c] - served.Probabilities![i][c]));
            }
        }

        if (mismatches > 0)
        {
            throw new JobFailedException("export_mismatch", $"the exported ONNX model disagrees with ML.NET on {mismatches} of {rows.Length} test rows (largest difference " +
                $"{maxDiff.ToString("G4", CultureInfo.InvariantCulture)}); nothing was registered");
        }

        return new Dictionary<string, object?> { ["rows"] = rows.Length, ["mismatches"] = mismatches, ["max_abs_diff"] = maxDiff };
    }

    // Registers the ONNX file once per job; metadata and lineage entries of the trainer kind are added to the common ones.
    private async Task<int> RegisterAsync(JobRun run, TrainingSpec spec, Dictionary<string, string> trainerMetadata, Dictionary<string, object?> trainerLineage,
        Dictionary<string, object?> evaluation, string onnx)
    {
        // The point of no return, right before the effects that must happen once: a cancel that came first (even after
        // the job's last look at its token) stops it here with nothing registered, one after it is refused; a worker
        // that lost its lease stops here too.
        await run.BeginFinishingAsync();
        var existing = (await registry.ListVersionsAsync(spec.Model, run.CancellationToken))
            .FirstOrDefault(v => v.Metadata.TryGetValue(TabularModelInfo.JobMetadataKey, out var job) && job == run.Job.Id);
        int number;
        if (existing is not null)
        {
            // An earlier attempt registered it and then died before it could say so: adopt that version.
            number = existing.Version;
            await run.EventAsync("log", new { message = $"version {number} was already registered by an earlier attempt of this job; adopted" });
        }
        else
        {
            var lineage = new Dictionary<string, object?>
            {
                ["dataset"] = new Dictionary<string, object?> { ["name"] = spec.Dataset.Name, ["version"] = spec.Dataset.Version, ["sha256"] = spec.Dataset.Sha256 },
                ["job"] = run.Job.Id,
                ["trainer"] = spec.Trainer,
                ["task"] = spec.Task,
                ["label"] = spec.Label,
                ["features"] = spec.Features.Select(f => f.Name).ToArray(),
                ["hyperparameters"] = spec.Hyperparameters,
                ["seed"] = spec.Split.Seed,
                ["split"] = spec.Split,
                ["metrics"] = evaluation.Where(kv => kv.Value is double or int).ToDictionary(kv => kv.Key, kv => kv.Value),
                ["maas_version"] = typeof(TrainingJobHandler).Assembly.GetName().Version?.ToString(),
            };
            foreach (var (key, value) in trainerLineage)
            {
                lineage[key] = value;
            }

            var metadata = new Dictionary<string, string>(trainerMetadata)
            {
                [TabularModelInfo.JobMetadataKey] = run.Job.Id,
                [TabularModelInfo.EvaluationMetadataKey] = JsonSerializer.Serialize(evaluation, RegistryJson.Options),
                [TabularModelInfo.LineageMetadataKey] = JsonSerializer.Serialize(lineage, RegistryJson.Options),
            };
            await using var draft = await registry.BeginVersionAsync(spec.Model, new NewVersionOptions { Metadata = metadata, CreatedBy = spec.CreatedBy }, CancellationToken.None);
            await using (var file = File.OpenRead(onnx))
            {
                await draft.AddFileAsync("model.onnx", file, null, CancellationToken.None);
            }

            number = (await registry.CommitVersionAsync(draft, CancellationToken.None)).Version;
        }

        await datasetStore.AddUseAsync(new DatasetUse(spec.Dataset.Name, spec.Dataset.Version, spec.Model, number), CancellationToken.None);
        if (!string.IsNullOrEmpty(spec.Alias))
        {
            await registry.SetAliasAsync(spec.Model, spec.Alias, number, AliasPrecondition.None, spec.CreatedBy, CancellationToken.None);
        }

        return number;
    }
}
