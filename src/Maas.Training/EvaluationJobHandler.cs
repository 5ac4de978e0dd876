using System.Globalization;
using System.Text.Json;
using Maas.Core.Datasets;
using Maas.Core.Jobs;
using Maas.Core.Jobs.Queue;
using Maas.Core.Registry;
using Maas.Core.Training;
using Maas.Runtimes.Onnx;

namespace Maas.Training;

/// <summary>
/// Runs "evaluation" jobs: a version MaaS trained (a table model, "maas.tabular", or an image classifier, "maas.image")
/// scores the labelled rows of a dataset version on ONNX Runtime, a batch at a time (the job's progress), and the
/// answers are measured with the metrics a training job reports on its test split (<see cref="Evaluator"/>).
/// </summary>
public sealed class EvaluationJobHandler(DatasetCatalog datasets, IModelRegistry registry, int batchRows = EvaluationJobHandler.DefaultBatchRows) : IJobHandler, IReadsDatasets
{
    /// <summary>Rows scored per ONNX Runtime call (and per progress report).</summary>
    public const int DefaultBatchRows = 512;

    /// <summary>The error code of a version MaaS did not train (no maas.tabular or maas.image metadata).</summary>
    public const string NotTrainedCode = "version_not_trained";

    private int _sessionsOpen;
    private long _sessionsOpened;

    /// <inheritdoc />
    public string Kind => EvaluationSpec.Kind;

    /// <inheritdoc />
    public IEnumerable<DatasetReference> DatasetsOf(string spec) => SpecDatasets.Read<EvaluationSpec>(spec, s => [s.Dataset]);

    /// <summary>ONNX Runtime sessions this handler's jobs hold now: one per job that is scoring, none once every job ended.</summary>
    public int SessionsOpen => Volatile.Read(ref _sessionsOpen);

    /// <summary>Sessions this handler opened in all: one per job that reached scoring, however many batches it scored.</summary>
    public long SessionsOpened => Interlocked.Read(ref _sessionsOpened);

    /// <inheritdoc />
    public async Task<string> RunAsync(JobRun run)
    {
        var spec = JsonSerializer.Deserialize<EvaluationSpec>(run.Job.Spec, RegistryJson.Options) ?? throw new JobFailedException("invalid_spec", "the job has no spec");
        var token = run.CancellationToken;
        await run.ReportAsync(new JobProgress { Percent = 1, Stage = "loading" });
        var version = await registry.GetVersionAsync(spec.Model, spec.Version, token);
        var datasetVersion = await datasets.GetVersionAsync(spec.Dataset.Name, spec.Dataset.Version, token);
        if (datasetVersion.Sha256 != spec.Dataset.Sha256)
        {
            throw new JobFailedException("dataset_changed", $"dataset '{spec.Dataset.Name}' version {spec.Dataset.Version} no longer has the content the job was submitted with");
        }

        var table = await datasets.LoadAsync(datasetVersion, token);
        var label = table.IndexOf(spec.Label);
        if (label < 0)
        {
            throw new JobFailedException("invalid_label", $"the dataset has no label column '{spec.Label}'");
        }

        var tabular = version.Metadata.TryGetValue(TabularModelInfo.MetadataKey, out var tabularText) ? TabularModelInfo.TryRead(tabularText) : null;
        var image = tabular is null ? ReadImageInfo(version) : null;
        var lineage = image is null ? null : await LineageAsync(registry, version, token);
        if ((tabular is null && image is null) || (image is not null && lineage?.ImageColumn is null))
        {
            throw new JobFailedException(NotTrainedCode, NotEvaluableMessage(version, image, lineage));
        }

        var path = await registry.GetLocalArtifactPathAsync(version, token);

        // One session for the whole job (opening one parses the model and plans its graph), disposed however the job ends.
        var session = OpenSession(path);
        Dictionary<string, object?> metrics;
        try
        {
            metrics = tabular is not null
                ? await TabularAsync(run, spec, tabular, table, label, session)
                : await ImageAsync(run, spec, image!, lineage!.ImageColumn, table, label, session);
        }
        finally
        {
            session.Dispose();
            Interlocked.Decrement(ref _sessionsOpen);
        }

        // Past here nothing is scored: a cancel that came first ends the job cancelled, with no metrics recorded.
        await run.BeginFinishingAsync();
        await run.ReportAsync(new JobProgress { Percent = 100, Stage = "done", Metrics = Evaluator.Headline(metrics, "") });
        var result = new Dictionary<string, object?>
        {
            ["dataset"] = new Dictionary<string, object?> { ["name"] = spec.Dataset.Name, ["version"] = spec.Dataset.Version, ["sha256"] = spec.Dataset.Sha256 },
            ["label"] = spec.Label,
        };
        foreach (var (key, value) in metrics)
        {
            result[key] = value;
        }

        await run.EventAsync("metrics", new { split = "evaluation", metrics });
        return JsonSerializer.Serialize(result, RegistryJson.Options);
    }

    /// <summary>The image classifier description of a version, or null when it has none MaaS can read.</summary>
    public static ImageModelInfo? ReadImageInfo(ModelVersion version)
    {
        if (!version.Metadata.TryGetValue(ImageModelInfo.MetadataKey, out var text))
        {
            return null;
        }

        try
        {
            return JsonSerializer.Deserialize<ImageModelInfo>(text, RegistryJson.Options) is { Shape.Length: 3, Classes.Count: > 0 } info ? info : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <summary>
    /// The training lineage that says which columns <paramref name="version"/> takes: its own, or, for a version an
    /// optimisation job derived from another (which keeps its source's task, features, classes and inputs, but not the
    /// record of how the source was trained), that of the version it derives from, followed back as far as needed.
    /// </summary>
    public static async Task<TrainingLineage> LineageAsync(IModelRegistry registry, ModelVersion version, CancellationToken cancellationToken)
    {
        var (holder, missing) = await TrainedVersion.FindAsync(registry, version, cancellationToken);
        return new TrainingLineage(holder is null ? null : TrainingRecord.Of(holder), missing);
    }

    /// <summary>
    /// Why <paramref name="version"/> cannot be evaluated: it lacks the metadata a training job writes (an uploaded or
    /// imported model), or it is an image classifier whose image column no training lineage names (its own, or that of
    /// the version it was optimised from, which may be gone).
    /// </summary>
    public static string NotEvaluableMessage(ModelVersion version, ImageModelInfo? image, TrainingLineage? lineage)
    {
        var named = $"version {version.Version} of '{RegistryNames.Shorten(version.Model)}'";
        if (image is null)
        {
            return $"{named} ({version.Format.ToString().ToLowerInvariant()}) was not trained by MaaS: evaluation needs the {TabularModelInfo.MetadataKey} or " +
                $"{ImageModelInfo.MetadataKey} metadata a training job writes (and an optimisation job keeps), which names the columns the version takes";
        }

        var source = lineage?.Missing is { } gone
            ? $"; it was derived from version {gone.Version} of '{RegistryNames.Shorten(gone.Model)}', which no longer exists"
            : version.DerivedFrom is { } from ? $"; neither it nor version {from.Version} of '{RegistryNames.Shorten(from.Model)}', which it was derived from, has one" : "";
        return $"{named} is an image classifier whose image column is unknown: evaluation reads it from the {TabularModelInfo.LineageMetadataKey} record of the training job " +
            $"that made the version{source}";
    }

    // The labelled rows, in order, at most spec.Limit of them.
    private static int[] LabelledRows(DatasetTable table, int label, int? limit)
    {
        var rows = Enumerable.Range(0, table.Rows.Count).Where(r => table.Rows[r][label] is not null);
        return (limit is { } n ? rows.Take(n) : rows).ToArray();
    }

    private OnnxSession OpenSession(string path)
    {
        var session = TabularOnnx.Open(path);
        Interlocked.Increment(ref _sessionsOpened);
        Interlocked.Increment(ref _sessionsOpen);
        return session;
    }

    private async Task<Dictionary<string, object?>> TabularAsync(JobRun run, EvaluationSpec spec, TabularModelInfo info, DatasetTable table, int label, OnnxSession session)
    {
        var columns = info.Features.Select(f => table.IndexOf(f.Name) is >= 0 and var i ? i
            : throw new JobFailedException("missing_column", $"the dataset has no column '{f.Name}', a feature of the version")).ToArray();
        var rows = LabelledRows(table, label, spec.Limit);
        if (rows.Length == 0)
        {
            throw new JobFailedException("dataset_too_small", $"the dataset has no row with a value in '{spec.Label}'");
        }

        var regression = info.Task == TrainingNames.Regression;
        var classes = regression ? null : ClassesWith(info.Classes ?? [], rows.Select(r => DatasetStatisticsCalculator.Key(table.Rows[r][label]!)), spec.Label);
        var values = new List<double>(rows.Length);
        var predictedClasses = new List<int>(rows.Length);
        var probabilities = new List<double[]>(rows.Length);
        for (var start = 0; start < rows.Length; start += batchRows)
        {
            run.CancellationToken.ThrowIfCancellationRequested();
            var batch = rows.Skip(start).Take(batchRows).Select(r => columns.Select(c => table.Rows[r][c]).ToArray()).ToArray();
            Predictions predicted;
            try
            {
                predicted = TabularOnnx.Run(session, info, batch, run.CancellationToken);
            }
            catch (ArgumentException e)
            {
                throw new JobFailedException("invalid_dataset", $"row {rows[start]} and on: {e.Message}");
            }

            CheckFinite(info, predicted, rows, start, batch);

            if (regression)
            {
                values.AddRange(predicted.Values!);
            }
            else
            {
                predictedClasses.AddRange(predicted.Classes!);
                probabilities.AddRange(predicted.Probabilities!.Select(p => Pad(p, classes!.Count)));
            }

            var done = Math.Min(start + batchRows, rows.Length);
            await run.ReportAsync(new JobProgress
            {
                Percent = 5 + (90.0 * done / rows.Length),
                Stage = "scoring",
                Metrics = new Dictionary<string, double> { ["rows_scored"] = done }
            });
        }

        if (regression)
        {
            var truth = rows.Select(r => table.Rows[r][label] switch
            {
                double d when Math.Abs(d) > float.MaxValue => throw new JobFailedException("invalid_label",
                    $"'{spec.Label}' holds {d.ToString(CultureInfo.InvariantCulture)} in row {r}, beyond the version's 32-bit floats (±3.4E+38)"),
                double d => d,
                var other => throw new JobFailedException("invalid_label",
                    $"regression needs a numeric label; '{spec.Label}' holds {DatasetStatisticsCalculator.Key(other!)} in row {r}"),
            }).ToArray();
            return Evaluator.Regression(truth, [.. values]);
        }

        var truthClasses = rows.Select(r => classes!.IndexOf(DatasetStatisticsCalculator.Key(table.Rows[r][label]!))).ToArray();
        return Evaluator.Classification(truthClasses, new Predictions(null, [.. predictedClasses], [.. probabilities]), classes!,
            info.Task == TrainingNames.Binary && classes!.Count == 2);
    }

    // A number beyond float's range is infinity to the model, and an answer that overflowed is not finite: neither can be
    // measured, nor carried by the job's JSON metrics, so the job fails naming the row.
    private static void CheckFinite(TabularModelInfo info, Predictions predicted, int[] rows, int start, object?[][] batch)
    {
        for (var i = 0; i < batch.Length; i++)
        {
            for (var f = 0; f < info.Features.Count; f++)
            {
                if (batch[i][f] is double d && Math.Abs(d) > float.MaxValue)
                {
                    throw new JobFailedException("invalid_dataset",
                        $"row {rows[start + i]}, column '{info.Features[f].Name}': {d.ToString(CultureInfo.InvariantCulture)} is beyond the version's 32-bit floats (±3.4E+38)");
                }
            }

            if (predicted.Values is { } values ? !double.IsFinite(values[i]) : predicted.Probabilities![i].Any(p => !double.IsFinite(p)))
            {
                throw new JobFailedException("invalid_dataset",
                    $"row {rows[start + i]}: the version's answer is not a finite number (NaN or infinity): its features are too large for the model's 32-bit arithmetic");
            }
        }
    }

    private async Task<Dictionary<string, object?>> ImageAsync(JobRun run, EvaluationSpec spec, ImageModelInfo info, string? columnName, DatasetTable table, int label,
        OnnxSession session)
    {
        var column = columnName is null ? -1 : table.IndexOf(columnName);
        if (column < 0)
        {
            throw new JobFailedException("missing_column", $"the dataset has no image column '{columnName}', the input of the version");
        }

        var (channels, height, width) = (info.Shape[0], info.Shape[1], info.Shape[2]);
        var size = channels * height * width;
        var rows = LabelledRows(table, label, spec.Limit);
        if (rows.Length == 0)
        {
            throw new JobFailedException("dataset_too_small", $"the dataset has no row with a value in '{spec.Label}'");
        }

        var classes = ClassesWith(info.Classes, rows.Select(r => DatasetStatisticsCalculator.Key(table.Rows[r][label]!)), spec.Label);
        var k = info.Classes.Count;
        var predictedClasses = new int[rows.Length];
        var probabilities = new double[rows.Length][];

        // One buffer of a batch's pixels serves every batch (the last one uses its start).
        var images = new float[(long)Math.Min(batchRows, rows.Length) * size];
        for (var start = 0; start < rows.Length; start += batchRows)
        {
            run.CancellationToken.ThrowIfCancellationRequested();
            var count = Math.Min(batchRows, rows.Length - start);
            for (var i = 0; i < count; i++)
            {
                var row = rows[start + i];
                if (table.Rows[row][column] is not byte[] pixels || pixels.Length != size)
                {
                    throw new JobFailedException("invalid_dataset", $"row {row}: '{columnName}' is not a {height}x{width}x{channels} image, the shape the version takes");
                }

                ImagePixels.ToChannelsFirst(pixels, images, (long)i * size, height, width, channels);
            }

            var logits = ImageOnnx.Logits(session, images, count, info.Shape, run.CancellationToken);
            for (var i = 0; i < count; i++)
            {
                var p = ImageData.Softmax(logits.AsSpan(i * k, k));
                predictedClasses[start + i] = Array.IndexOf(p, p.Max());
                probabilities[start + i] = Pad(p, classes.Count);
            }

            var done = start + count;
            await run.ReportAsync(new JobProgress
            {
                Percent = 5 + (90.0 * done / rows.Length),
                Stage = "scoring",
                Metrics = new Dictionary<string, double> { ["rows_scored"] = done }
            });
        }

        var truth = rows.Select(r => classes.IndexOf(DatasetStatisticsCalculator.Key(table.Rows[r][label]!))).ToArray();
        return Evaluator.Classification(truth, new Predictions(null, predictedClasses, probabilities), classes, classes.Count == 2);
    }

    // The version's classes, then any label of the dataset it does not know (never predicted, so always wrong). A
    // label column with none of the version's classes is another column than the one it learned: refused, not scored 0.
    private static List<string> ClassesWith(IReadOnlyList<string> known, IEnumerable<string> labels, string label)
    {
        var classes = new List<string>(known);
        var anyKnown = false;
        foreach (var l in labels)
        {
            var index = classes.IndexOf(l);
            anyKnown |= index >= 0 && index < known.Count;
            if (index < 0)
            {
                classes.Add(l);
            }
        }

        if (!anyKnown && known.Count > 0)
        {
            throw new JobFailedException(
                "invalid_label",
                $"no row's '{label}' is a class the version knows ({RegistryNames.FirstOf(known, 10)}); the column holds {RegistryNames.FirstOf(classes.Skip(known.Count), 10)}");
        }

        return classes;
    }

    private static double[] Pad(double[] p, int count) => p.Length >= count ? p : [.. p, .. new double[count - p.Length]];
}
