using System.Globalization;
using System.IO.Compression;
using System.Text.Json;
using Maas.Core.Datasets;
using Maas.Core.Formats;
using Maas.Core.Formats.Gguf;
using Maas.Core.Formats.Onnx;
using Maas.Core.Jobs;
using Maas.Core.Jobs.Queue;
using Maas.Core.Registry;
using Maas.Optimization.FineTuning;
using Maas.Optimization.Gguf;
using Maas.Optimization.Onnx;
using Maas.Runtimes.Ggml;
using Maas.Runtimes.Llama;
using Maas.Runtimes.Onnx;

namespace Maas.Optimization;

/// <summary>
/// Runs "optimization" jobs: rewrites the source version by its method, checks the rewrite loads, measures it against
/// the source on this machine, applies the gate and registers the result as a new version derived from the source,
/// ready or rejected, with the report attached; once, even when a worker that took the job over runs it again.
/// MaaS's own ONNX rewriters watch the job's token at each tensor or node of their loops (<see cref="RewriteSteps"/>;
/// <paramref name="rewriteStep"/>, null but in tests, is called at each of those steps).
/// </summary>
public sealed class OptimizationJobHandler(IModelRegistry registry, DatasetCatalog datasets, OptimizationOptions options, GgufQuantizeCall? quantize = null,
    OptimizationRewriteStep? rewriteStep = null) : IJobHandler, IReadsDatasets
{
    private readonly GgufQuantizeCall _quantize = quantize ?? LlamaQuantizer.Quantize;

    // Source metadata that describes the source's own making, not what it does; not copied to the new version. The
    // fine-tuning job's keys above all: a retried fine-tuning job adopts the version that names it as its output.
    private static readonly HashSet<string> NotInherited = new(StringComparer.Ordinal)
    {
        OptimizationMetadata.Key, OptimizationMetadata.JobKey, "maas.evaluation", "maas.lineage",
        "maas.fine_tuning.job", "maas.fine_tuning.checkpoint",
    };

    /// <inheritdoc />
    public string Kind => OptimizationSpec.Kind;

    /// <inheritdoc />
    public IEnumerable<Maas.Core.Training.DatasetReference> DatasetsOf(string spec) =>
        SpecDatasets.Read<OptimizationSpec>(spec,
        s => new[] { s.Calibration, s.ImatrixDataset, s.FineTune?.Dataset, s.Evaluation?.Dataset }.OfType<Maas.Core.Training.DatasetReference>());

    /// <inheritdoc />
    public async Task<string> RunAsync(JobRun run)
    {
        var spec = JsonSerializer.Deserialize<OptimizationSpec>(run.Job.Spec, RegistryJson.Options) ?? throw new JobFailedException("invalid_spec", "the job has no spec");
        var method = OptimizationMethods.Available.GetValueOrDefault(spec.Method) ??
            throw new JobFailedException("invalid_spec", $"method '{spec.Method}' is not known to this worker");
        var token = run.CancellationToken;
        await run.ReportAsync(new JobProgress { Percent = 2, Stage = "loading" });
        var source = await registry.GetVersionAsync(spec.Model, spec.Version, token);
        if (source.Sha256 != spec.SourceSha256)
        {
            throw new JobFailedException("source_changed", $"version {spec.Version} of '{spec.Model}' no longer has the content the job was submitted with");
        }

        var sourcePath = await registry.GetLocalArtifactPathAsync(source, token);
        var output = Path.Combine(run.WorkDir, method.Format == ModelFormat.Gguf ? "optimized.gguf" : "optimized.onnx");
        var calibration = spec.Method == OptimizationMethods.OnnxInt8Static ? await LoadCalibrationAsync(spec, source, token) : null;
        var imatrixText = spec.ImatrixReference is null ? null : await LoadImatrixTextAsync(spec, token);
        await run.ReportAsync(new JobProgress { Percent = 10, Stage = calibration is null && imatrixText is null ? "rewriting" : "calibrating" });
        var rewrite = Rewrite(spec, sourcePath, output, calibration, imatrixText, token);
        // A rewrite may be one long native call that cannot watch the token (llama_model_quantize): a cancel requested
        // meanwhile, on this server or another, is honoured as soon as it returns, asking the queue now rather than at
        // the next heartbeat. The job ends cancelled, registers nothing, and its work folder (the output) is deleted.
        await run.EnsureLeaseAsync();
        await run.EventAsync("log", new { message = $"{spec.Method} wrote {new FileInfo(output).Length} bytes", rewrite });
        Dictionary<string, object?>? accuracy = null;
        if (spec.FineTune is { } fineTune)
        {
            (calibration, accuracy) = await FineTuneAsync(run, spec, fineTune, sourcePath, output);
        }
        else if (spec.Evaluation is { } evaluation)
        {
            // Static int8 stays compared on its calibration rows; the others on the labelled test pictures.
            (var testRows, accuracy) = evaluation.Kind is null
                ? await EvaluateAsync(run, evaluation, sourcePath, output)
                : await EvaluateLabelledAsync(run, evaluation, source, sourcePath, output);
            calibration ??= testRows;
        }

        var report = method.Format == ModelFormat.Gguf ? await MeasureGgufAsync(run, sourcePath, output) : await MeasureOnnxAsync(run, spec, sourcePath, output, calibration);
        foreach (var (key, value) in accuracy ?? [])
        {
            report[key] = value;
        }

        var size = new FileInfo(output).Length;
        report["size_bytes"] = size;
        report["source_size_bytes"] = source.SizeBytes;
        report["size_ratio"] = source.SizeBytes > 0 ? (double)size / source.SizeBytes : null;
        report["method"] = spec.Method;
        report["rewrite"] = rewrite;
        var metrics = report.Where(kv => kv.Value is double or long or int || kv.Value is null)
            .ToDictionary(kv => kv.Key, kv => kv.Value is null ? (double?)null : Convert.ToDouble(kv.Value, System.Globalization.CultureInfo.InvariantCulture));
        var gate = OptimizationGate.Evaluate(method.Format, spec.Gate, metrics, trained: spec.FineTune is not null);
        report["gate"] = new Dictionary<string, object?>
        {
            ["passed"] = gate.Passed,
            ["checks"] = gate.Checks.Select(c => new Dictionary<string, object?>
            {
                ["name"] = c.Name,
                ["metric"] = c.Metric,
                ["value"] = Finite(c.Value),
                ["threshold"] = c.Threshold,
                ["passed"] = c.Passed,
                ["note"] = c.Note,
            }).ToArray(),
        };
        var status = gate.Passed ? OptimizationMetadata.Ready : OptimizationMetadata.Rejected;
        // The measured numbers by name (what a follower shows on one line) and the whole report, as JSON objects.
        var measured = metrics.Where(kv => kv.Value is { } v && double.IsFinite(v)).ToDictionary(kv => kv.Key, kv => kv.Value);
        await run.EventAsync("metrics", new { status, metrics = measured, report = Sanitize(report) });

        await run.ReportAsync(new JobProgress { Percent = 90, Stage = "registering" });
        var number = await RegisterAsync(run, spec, method, source, output, status, report);
        foreach (var used in new[] { spec.Calibration, spec.ImatrixDataset, spec.FineTune?.Dataset, spec.Evaluation?.Dataset }.OfType<Maas.Core.Training.DatasetReference>())
        {
            await datasets.RecordUseAsync(new DatasetUse(used.Name, used.Version, spec.Model, number), CancellationToken.None);
        }

        var result = new Dictionary<string, object?> { ["model"] = spec.Model, ["version"] = number, ["status"] = status, ["report"] = report };
        return Json(result);
    }

    private static string Json(object value) => JsonSerializer.Serialize(Sanitize(value), RegistryJson.Options);

    // JSON has no infinity or NaN: such a measurement is written as null (the gate's finite check says why).
    private static object? Sanitize(object? value) => value switch
    {
        double d => Finite(d),
        IDictionary<string, object?> map => map.ToDictionary(kv => kv.Key, kv => Sanitize(kv.Value)),
        object?[] list => list.Select(Sanitize).ToArray(),
        _ => value,
    };

    private static double? Finite(double? value) => value is { } d && double.IsFinite(d) ? d : null;

    // Trains the pruned network in `output` on the fine-tune dataset and writes the result over it; returns the test
    // pictures the comparison runs on and the accuracies of source, pruned and fine-tuned versions on them.
    private async Task<(Calibration TestRows, Dictionary<string, object?> Accuracy)> FineTuneAsync(JobRun run, OptimizationSpec spec, FineTuneSpec fineTune, string sourcePath,
        string output)
    {
        await run.ReportAsync(new JobProgress { Percent = 15, Stage = "fine-tuning" });
        var data = await LabelledAsync(fineTune, run.CancellationToken);
        var reference = fineTune.Dataset!;
        var pruned = Path.Combine(run.WorkDir, "pruned.onnx");
        File.Copy(output, pruned, overwrite: true);
        var info = await PrunedFineTune.RunAsync(run, fineTune, data, pruned, output, keepZeros: spec.Method == OptimizationMethods.PruneMagnitude, options.Threads, 15, 38);
        Validated(output, []);
        double sourceAccuracy, prunedAccuracy, accuracy;
        try
        {
            var classes = fineTune.Classes!.Count;
            sourceAccuracy = PrunedFineTune.Accuracy(sourcePath, NetworkOnnx.Input, NetworkOnnx.Logits, data, data.Test, classes, run.CancellationToken);
            prunedAccuracy = PrunedFineTune.Accuracy(pruned, NetworkOnnx.Input, NetworkOnnx.Logits, data, data.Test, classes, run.CancellationToken);
            accuracy = PrunedFineTune.Accuracy(output, NetworkOnnx.Input, NetworkOnnx.Logits, data, data.Test, classes, run.CancellationToken);
        }
        catch (OnnxRuntimeException e)
        {
            throw new JobFailedException("invalid_rewrite", $"ONNX Runtime cannot run the fine-tuned model: {e.Message}", e);
        }

        info["accuracy_before"] = prunedAccuracy;
        await run.EventAsync("metrics", new { split = "test", source_accuracy = sourceAccuracy, pruned_accuracy = prunedAccuracy, accuracy });
        return (TestRows(fineTune, data), AccuracyReport(sourceAccuracy, accuracy, data.Test.Length, $"{reference.Name}:{reference.Version} test split", "fine_tune", info));
    }

    // Accuracy of source and rewrite on the test split of options.evaluation's labelled dataset version (nothing trains).
    private async Task<(Calibration TestRows, Dictionary<string, object?> Accuracy)> EvaluateAsync(JobRun run, FineTuneSpec evaluation, string sourcePath, string output)
    {
        await run.ReportAsync(new JobProgress { Percent = 30, Stage = "evaluating" });
        var data = await LabelledAsync(evaluation, run.CancellationToken);
        var reference = evaluation.Dataset!;
        double sourceAccuracy, accuracy;
        try
        {
            var classes = evaluation.Classes!.Count;
            sourceAccuracy = PrunedFineTune.Accuracy(sourcePath, NetworkOnnx.Input, NetworkOnnx.Logits, data, data.Test, classes, run.CancellationToken);
            accuracy = PrunedFineTune.Accuracy(output, NetworkOnnx.Input, NetworkOnnx.Logits, data, data.Test, classes, run.CancellationToken);
        }
        catch (OnnxRuntimeException e)
        {
            throw new JobFailedException("cannot_measure", $"ONNX Runtime cannot measure accuracy on {reference.Name}:{reference.Version}: {e.Message}", e);
        }

        await run.EventAsync("metrics", new { split = "test", source_accuracy = sourceAccuracy, accuracy });
        return (TestRows(evaluation, data),
            AccuracyReport(sourceAccuracy, accuracy, data.Test.Length, $"{reference.Name}:{reference.Version} test split", "evaluation", new Dictionary<string, object?>
            {
                ["dataset"] = reference.Name,
                ["version"] = reference.Version,
                ["label"] = evaluation.Label,
                ["features"] = new[] { evaluation.Image },
                ["split"] = evaluation.Split,
                ["test_rows"] = data.Test.Length,
                ["rows_skipped"] = data.Skipped,
            }));
    }

    // Accuracy of source and rewrite of a table classifier MaaS trained (on its training's test split) or of an uploaded
    // classifier (on every labelled row, or the test split asked for); nothing trains.
    private async Task<(Calibration TestRows, Dictionary<string, object?> Accuracy)> EvaluateLabelledAsync(JobRun run, FineTuneSpec evaluation, ModelVersion source,
        string sourcePath, string output)
    {
        await run.ReportAsync(new JobProgress { Percent = 30, Stage = "evaluating" });
        var reference = evaluation.Dataset ?? throw new JobFailedException("invalid_spec", "the job's options.evaluation names no resolved dataset");
        var version = await datasets.GetVersionAsync(reference.Name, reference.Version, run.CancellationToken);
        if (version.Sha256 != reference.Sha256)
        {
            throw new JobFailedException("dataset_changed", $"dataset '{reference.Name}' version {reference.Version} no longer has the content the job was submitted with");
        }

        var data = LabelledEvaluation.Data(evaluation, await datasets.LoadAsync(version, run.CancellationToken));
        double sourceAccuracy, accuracy;
        try
        {
            sourceAccuracy = LabelledEvaluation.Accuracy(sourcePath, evaluation, data, run.CancellationToken);
            accuracy = LabelledEvaluation.Accuracy(output, evaluation, data, run.CancellationToken);
        }
        catch (OnnxRuntimeException e)
        {
            throw new JobFailedException("cannot_measure", $"ONNX Runtime cannot measure accuracy on {reference.Name}:{reference.Version}: {e.Message}", e);
        }
        catch (ArgumentException e)
        {
            // A cell the model's feature cannot read (TabularCodec names the row and column).
            throw new JobFailedException("invalid_evaluation", $"{reference.Name}:{reference.Version}: {e.Message}", e);
        }

        var split = evaluation.Split is null ? "all labelled rows" : "test split";
        await run.EventAsync("metrics", new { split = evaluation.Split is null ? "all" : "test", source_accuracy = sourceAccuracy, accuracy });

        // The output comparison runs on the same rows, fed to every input of the model in its order.
        var order = (source.Signature.Inputs ?? []).Select(i => i.Name).ToArray();
        var positions = order.Select(n => data.InputNames.ToList().IndexOf(n)).ToArray();
        var rows = new Calibration(order.FirstOrDefault() ?? "", [], data.Test.Length, _ => [], 0)
        {
            Columns = evaluation.Features ?? [],
            ComparedOn = "evaluation test rows",
            Tensors = i =>
            {
                var made = data.Inputs([data.Test[i]]);
                return positions.All(p => p >= 0) ? positions.Select(p => made[p]).ToArray() : made;
            },
        };
        return (rows, AccuracyReport(sourceAccuracy, accuracy, data.Test.Length, $"{reference.Name}:{reference.Version} {split}", "evaluation", new Dictionary<string, object?>
        {
            ["dataset"] = reference.Name,
            ["version"] = reference.Version,
            ["model"] = evaluation.Kind == LabelledEvaluation.Table ? "table classifier trained by MaaS" : "uploaded",
            ["label"] = evaluation.Label,
            ["features"] = evaluation.Features,
            ["input"] = evaluation.Kind == LabelledEvaluation.Table ? null : evaluation.Input,
            ["output"] = evaluation.Output,
            ["output_kind"] = evaluation.Kind == LabelledEvaluation.Table ? (evaluation.Tabular!.LabelOutput is null ? LabelledEvaluation.Scores : LabelledEvaluation.Labels)
            : evaluation.OutputKind,
            ["classes"] = evaluation.Classes,
            ["preprocess"] = evaluation.Preprocessing is { } p ? new Dictionary<string, object?> { ["mean"] = p.Mean, ["std"] = p.Std, ["from"] = p.From } : null,
            ["split"] = evaluation.Split,
            ["test_rows"] = data.Test.Length,
            ["rows_skipped"] = data.Skipped,
        }));
    }

    // The accuracy part of a report, the same however accuracy was measured; `detail` (under `key`) says how.
    private static Dictionary<string, object?> AccuracyReport(double sourceAccuracy, double accuracy, int rows, string on, string key, Dictionary<string, object?> detail) => new()
    {
        ["accuracy"] = accuracy,
        ["source_accuracy"] = sourceAccuracy,
        ["accuracy_drop"] = sourceAccuracy - accuracy,
        ["accuracy_rows"] = rows,
        ["accuracy_on"] = on,
        [key] = detail,
    };

    // The pictures and labels of a fine-tune's or evaluation's dataset version resolved at submission, split as the source's training was.
    private async Task<FineTuneData> LabelledAsync(FineTuneSpec spec, CancellationToken token)
    {
        var reference = spec.Dataset ?? throw new JobFailedException("invalid_spec", $"the job's options.{spec.Option} names no resolved dataset");
        var version = await datasets.GetVersionAsync(reference.Name, reference.Version, token);
        if (version.Sha256 != reference.Sha256)
        {
            throw new JobFailedException("dataset_changed", $"dataset '{reference.Name}' version {reference.Version} no longer has the content the job was submitted with");
        }

        return PrunedFineTune.Data(spec, await datasets.LoadAsync(version, token));
    }

    // The test pictures, as the output comparison reads them.
    private static Calibration TestRows(FineTuneSpec spec, FineTuneData data)
    {
        var shape = data.Shape.Dims;
        return new Calibration(NetworkOnnx.Input, [1, shape[0], shape[1], shape[2]], data.Test.Length, i => data.Picture(data.Test[i]), 0)
        {
            Columns = [spec.Image!],
            ComparedOn = spec.Option == FineTuneSpec.FineTuneOption ? "fine-tune test rows" : "evaluation test rows",
        };
    }

    // The calibration rows of onnx-int8-static, read from the dataset version resolved at submission.
    private async Task<Calibration> LoadCalibrationAsync(OptimizationSpec spec, ModelVersion source, CancellationToken token)
    {
        var reference = spec.Calibration ?? throw new JobFailedException("invalid_spec", "the job names no calibration dataset");
        var version = await datasets.GetVersionAsync(reference.Name, reference.Version, token);
        if (version.Sha256 != reference.Sha256)
        {
            throw new JobFailedException("dataset_changed", $"dataset '{reference.Name}' version {reference.Version} no longer has the content the job was submitted with");
        }

        try
        {
            var max = spec.CalibrationRows ?? CalibrationData.MaxRows;
            if (spec.CalibrationImageColumn is { } imageColumn)
            {
                return ImageCalibration(spec, source, await datasets.LoadAsync(version, token), imageColumn, max);
            }

            var shape = CalibrationData.InputShape(source);
            var columns = CalibrationData.Columns(version, spec.CalibrationColumns, shape);
            var (rows, skipped) = CalibrationData.Rows(await datasets.LoadAsync(version, token), columns, max);
            if (rows.Count == 0)
            {
                throw new JobFailedException("invalid_calibration", $"{reference.Name}:{reference.Version} has no row with every calibration column filled ({skipped} skipped)");
            }

            return new Calibration(source.Signature.Inputs![0].Name, shape, rows.Count, i => rows[i], skipped) { Columns = columns };
        }
        catch (OptimizationRequestException e)
        {
            throw new JobFailedException(e.Code, e.Message, e);
        }
    }

    // The pictures of the image column, turned into inputs one at a time as calibration and comparison read them
    // (a few hundred pictures as floats would take far more memory than their bytes).
    private static Calibration ImageCalibration(OptimizationSpec spec, ModelVersion source, DatasetTable table, string column, int max)
    {
        var label = $"{spec.Calibration!.Name}:{spec.Calibration.Version}";
        var index = table.IndexOf(column);
        var dims = index >= 0 ? table.Columns[index].Shape : null;
        var layout = source.Signature.Inputs is [var input] ? ImageInputLayout.Of(input) : null;
        if (dims is not { Count: 2 or 3 } || layout is null || spec.Preprocessing is not { } preprocessing)
        {
            throw new JobFailedException("invalid_calibration", $"{label} column '{column}' or the model's input no longer fits a calibration on pictures");
        }

        var (height, width, channels) = (dims[0], dims[1], dims.Count == 3 ? dims[2] : 1);
        var pictures = new List<byte[]>();
        var skipped = 0;
        foreach (var row in table.Rows)
        {
            if (pictures.Count == max)
            {
                break;
            }

            if (row[index] is byte[] pixels && pixels.Length == height * width * channels)
            {
                pictures.Add(pixels);
            }
            else
            {
                skipped++;
            }
        }

        if (pictures.Count == 0)
        {
            throw new JobFailedException("invalid_calibration", $"{label} has no picture in column '{column}' ({skipped} skipped)");
        }

        return new Calibration(source.Signature.Inputs![0].Name, layout.Shape(height, width), pictures.Count,
            i => CalibrationImages.ToInput(pictures[i], height, width, channels, layout, preprocessing), skipped)
        {
            Columns = [column],
            Picture = [height, width, channels],
        };
    }

    // The text an importance matrix is gathered from: the built-in passage, or a dataset's text column (its cells in row order).
    private async Task<string> LoadImatrixTextAsync(OptimizationSpec spec, CancellationToken token)
    {
        if (spec.ImatrixDataset is not { } reference)
        {
            return CalibrationText.Passage;
        }

        var version = await datasets.GetVersionAsync(reference.Name, reference.Version, token);
        if (version.Sha256 != reference.Sha256)
        {
            throw new JobFailedException("dataset_changed", $"dataset '{reference.Name}' version {reference.Version} no longer has the content the job was submitted with");
        }

        var table = await datasets.LoadAsync(version, token);
        var column = table.IndexOf(spec.ImatrixColumn ?? "");
        if (column < 0)
        {
            throw new JobFailedException("invalid_calibration", $"{reference.Name}:{reference.Version} has no column '{spec.ImatrixColumn}'");
        }

        // Roughly four characters a token: enough text for the token limit, never the whole of a huge dataset.
        var text = new System.Text.StringBuilder();
        foreach (var row in table.Rows)
        {
            if (row[column] is string cell && cell.Length > 0)
            {
                text.Append(cell).Append("\n\n");
                if (text.Length > options.ImatrixMaxTokens * 16L)
                {
                    break;
                }
            }
        }

        return text.Length > 0 ? text.ToString()
            : throw new JobFailedException("invalid_calibration", $"column '{spec.ImatrixColumn}' of {reference.Name}:{reference.Version} holds no text");
    }

    private Dictionary<string, object?> Rewrite(OptimizationSpec spec, string sourcePath, string output, Calibration? calibration, string? imatrixText, CancellationToken token)
    {
        var steps = new RewriteSteps(token, rewriteStep);
        try
        {
            switch (spec.Method)
            {
                case OptimizationMethods.GgufQuantize:
                    var type = GgufQuantTypes.ByName[spec.Type!];
                    var imatrix = imatrixText is null ? null : ImportanceMatrix(spec, sourcePath, imatrixText, token);
                    token.ThrowIfCancellationRequested(); // the last chance before the call that cannot be interrupted
                    _quantize(sourcePath, output, new LlamaQuantizeOptions { FileType = type, Threads = options.Threads, AllowRequantize = true, ImportanceMatrix = imatrix });
                    var gguf = new Dictionary<string, object?> { ["type"] = spec.Type, ["quantization"] = GgufReader.Read(output).Quantization };
                    if (imatrix is not null)
                    {
                        gguf["imatrix"] = new Dictionary<string, object?>
                        {
                            ["text"] = spec.ImatrixDataset is { } d ? $"{d.Name}:{d.Version} column {spec.ImatrixColumn}" : "built-in passage",
                            ["tokens"] = imatrix.Tokens,
                            ["max_tokens"] = options.ImatrixMaxTokens,
                            ["chunks"] = imatrix.Chunks,
                            ["chunk_tokens"] = ImatrixChunkTokens,
                            ["entries"] = imatrix.Entries.Count,
                        };
                    }

                    return gguf;
                case OptimizationMethods.OnnxOptimize:
                    OnnxGraphOptimizer.Optimize(sourcePath, output, spec.Level!);
                    var layout = OnnxGraphOptimizer.MachineSpecificNodes(output);
                    if (layout > 0 && !spec.MachineSpecific)
                    {
                        // Refused whatever the level: a file laid out for this CPU is registered only when asked for.
                        throw new JobFailedException("machine_specific_layout", $"ONNX Runtime's {spec.Level} level wrote {layout} operators laid out for this machine's CPU " +
                            $"({OnnxGraphOptimizer.LayoutDomain}); set options.machine_specific to true to accept a file tied to machines like this one");
                    }

                    return Validated(output, new()
                    {
                        ["level"] = spec.Level,
                        ["machine_specific"] = layout > 0,
                        ["layout_nodes"] = layout,
                        ["cpu_features"] = layout > 0 ? OnnxGraphOptimizer.CpuFeatures() : null,
                    });
                case OptimizationMethods.OnnxInt8Static:
                    return StaticInt8(spec, sourcePath, output, calibration!, steps);
            }

            var graph = OnnxGraph.Load(sourcePath);

            // ML.NET's linear classifiers hold their weights in ONNX-ML attributes: lowered to a MatMul first, they quantise and prune.
            var lowered = spec.Method is OptimizationMethods.OnnxInt8Dynamic or OptimizationMethods.PruneMagnitude ? OnnxLinearLowering.Lower(graph, steps)
                : new LinearLoweringResult(0, 0);
            Dictionary<string, object?> info = spec.Method switch
            {
                OptimizationMethods.OnnxFp16 => OnnxFloat16Rewriter.Rewrite(graph, steps) is var f
                    ? new() { ["tensors_converted"] = f.TensorsConverted, ["values_converted"] = f.ValuesConverted, ["values_overflowed"] = f.ValuesOverflowed }
                    : [],
                OptimizationMethods.OnnxInt8Dynamic => OnnxInt8Quantizer.Rewrite(graph, spec.WeightEncoding(), steps) is var q
                    ? new()
                    {
                        ["matmuls_quantized"] = q.MatMulsQuantized,
                        ["gemms_quantized"] = q.GemmsQuantized,
                        ["convs_quantized"] = q.ConvsQuantized,
                        ["weights_quantized"] = q.WeightsQuantized,
                        ["weight_type"] = spec.WeightEncoding().Name,
                        ["weight_levels"] = spec.WeightEncoding().Levels,
                        ["skipped"] = q.Skipped.ToArray()
                    }
                    : [],
                OptimizationMethods.PruneMagnitude => OnnxMagnitudePruner.Rewrite(graph, spec.Sparsity!.Value, steps) is var p
                    ? new() { ["sparsity"] = spec.Sparsity, ["tensors_pruned"] = p.TensorsPruned, ["weights"] = p.Weights, ["zeroed"] = p.Zeroed }
                    : [],
                OptimizationMethods.OnnxInt4 => OnnxInt4Quantizer.Rewrite(graph, spec.BlockSize ?? OnnxInt4Quantizer.DefaultBlockSize, steps) is var q4
                    ? new() { ["weights_quantized"] = q4.WeightsQuantized, ["matmuls_quantized"] = q4.MatMulsQuantized, ["block_size"] = q4.BlockSize }
                    : [],
                OptimizationMethods.PruneStructured => OnnxStructuredPruner.Rewrite(graph, spec.Ratio!.Value, steps) is var r
                    ? new() { ["ratio"] = spec.Ratio, ["layers_pruned"] = r.LayersPruned, ["units_before"] = r.UnitsBefore, ["units_removed"] = r.UnitsRemoved }
                    : [],
                _ => throw new JobFailedException("invalid_spec", $"method '{spec.Method}' has no rewriter"),
            };
            var changed = info.GetValueOrDefault("tensors_converted") ?? info.GetValueOrDefault("weights_quantized") ?? info.GetValueOrDefault("tensors_pruned") ??
                info.GetValueOrDefault("layers_pruned");
            if (changed is 0 or 0L)
            {
                throw new JobFailedException("nothing_to_optimize", NothingToOptimize(spec.Method, info));
            }

            if (graph.WeightInputsRemoved > 0)
            {
                info["weight_inputs_removed"] = graph.WeightInputsRemoved;
            }

            if (lowered.Classifiers > 0)
            {
                info["linear_classifiers_lowered"] = lowered.Classifiers;
            }

            if (lowered.Regressors > 0)
            {
                // ML.NET's binary linear classifiers: the score is a LinearRegressor, calibrated and thresholded after.
                info["linear_regressors_lowered"] = lowered.Regressors;
            }

            graph.Model.ProducerName = "maas-optimization";
            graph.Save(output);
            return Validated(output, info);
        }
        catch (LlamaException e)
        {
            throw new JobFailedException("rewrite_failed", $"llama.cpp could not quantise the model: {e.Message}", e);
        }
        catch (OnnxRuntimeException e)
        {
            throw new JobFailedException("rewrite_failed", $"ONNX Runtime could not {(calibration is null ? "optimise" : "calibrate")} the model: {e.Message}", e);
        }
        catch (NotSupportedException e)
        {
            throw new JobFailedException("method_not_applicable", e.Message, e);
        }
        catch (InvalidModelFileException e)
        {
            throw new JobFailedException("rewrite_failed", $"the model could not be rewritten: {e.Message}", e);
        }
    }

    private const int ImatrixChunkTokens = 256;

    private LlamaImportanceMatrix ImportanceMatrix(OptimizationSpec spec, string sourcePath, string text, CancellationToken token)
    {
        try
        {
            return LlamaImportanceMatrix.Compute(sourcePath, text, options.Threads, ImatrixChunkTokens, options.ImatrixMaxTokens, token);
        }
        catch (ArgumentException e)
        {
            throw new JobFailedException("invalid_calibration", $"the importance matrix's text ({spec.ImatrixReference}) is too short: {e.Message}", e);
        }
    }

    /// <summary>Why a rewrite that changed nothing failed, in words from its counters (not the counters' JSON).</summary>
    internal static string NothingToOptimize(string method, IReadOnlyDictionary<string, object?> info)
    {
        string Count(string key) => Convert.ToString(info.GetValueOrDefault(key), CultureInfo.InvariantCulture) ?? "0";
        var why = method switch
        {
            OptimizationMethods.OnnxFp16 => "found no float32 tensors to convert to float16",
            OptimizationMethods.OnnxInt8Dynamic =>
                $"found no weights to quantise: {Count("matmuls_quantized")} MatMul, {Count("gemms_quantized")} Gemm, {Count("convs_quantized")} Conv"
                + (info.GetValueOrDefault("skipped") is string[] { Length: > 0 } skipped ? $"; skipped: {RegistryNames.FirstOf(skipped, 5)}" : ""),
            OptimizationMethods.PruneMagnitude => $"found no weight tensors to prune at sparsity {Count("sparsity")}",
            OptimizationMethods.OnnxInt4 => $"found no MatMul weights to quantise in blocks of {Count("block_size")}",
            OptimizationMethods.PruneStructured => $"found no layers to prune at ratio {Count("ratio")}",
            _ => "found nothing to rewrite",
        };
        return $"{method} {why} in this model";
    }

    // Calibrates the activations the rewrite quantises on the float source, then inserts the QDQ pairs.
    private static Dictionary<string, object?> StaticInt8(OptimizationSpec spec, string sourcePath, string output, Calibration calibration, RewriteSteps steps)
    {
        var token = steps.CancellationToken;
        var graph = OnnxGraph.Load(sourcePath);
        var activations = OnnxStaticQuantizer.Activations(graph);
        if (activations.Count == 0)
        {
            throw new JobFailedException("nothing_to_optimize", $"{spec.Method} found no MatMul, Gemm or Conv with a constant weight in this model");
        }

        var method = spec.CalibrationMethod == "percentile" ? CalibrationMethod.Percentile : CalibrationMethod.MinMax;
        var ranges = OnnxCalibrator.Collect(sourcePath, activations, calibration.Feeds(), method, spec.Percentile ?? 100, token);
        var q = OnnxStaticQuantizer.Rewrite(graph, ranges, spec.WeightEncoding(), steps);
        graph.Model.ProducerName = "maas-optimization";
        graph.Save(output);
        return Validated(output, new()
        {
            ["matmuls_quantized"] = q.MatMulsQuantized,
            ["gemms_quantized"] = q.GemmsQuantized,
            ["convs_quantized"] = q.ConvsQuantized,
            ["weights_quantized"] = q.WeightsQuantized,
            ["activations_quantized"] = q.ActivationsQuantized,
            ["weight_type"] = spec.WeightEncoding().Name,
            ["weight_levels"] = spec.WeightEncoding().Levels,
            ["conv_outputs_quantized"] = q.ConvOutputsQuantized,
            ["biases_quantized"] = q.BiasesQuantized,
            ["batch_norms_folded"] = q.BatchNormsFolded,
            ["qdq_nodes"] = q.QdqNodes,
            ["per_channel_weights"] = q.PerChannel,
            ["opset_upgraded_from"] = q.OpsetUpgradedFrom,
            ["weight_inputs_removed"] = graph.WeightInputsRemoved,
            ["calibration"] = new Dictionary<string, object?>
            {
                ["dataset"] = spec.Calibration!.Name,
                ["version"] = spec.Calibration.Version,
                ["columns"] = calibration.Columns,
                ["rows"] = calibration.Count,
                ["pictures"] = calibration.Picture is { } picture ? new Dictionary<string, object?>
                {
                    ["stored_shape"] = picture,
                    ["input_shape"] = calibration.Shape,
                    ["mean"] = spec.Preprocessing!.Mean,
                    ["std"] = spec.Preprocessing.Std,
                    ["channel_order"] = spec.Preprocessing.Bgr ? "bgr" : "rgb",
                    ["preprocess_from"] = spec.Preprocessing.From,
                } : null,
                ["rows_skipped"] = calibration.Skipped,
                ["method"] = spec.CalibrationMethod,
                ["percentile"] = spec.Percentile,
                ["ranges"] = ranges.ToDictionary(kv => kv.Key, kv => (object?)new[] { (double)kv.Value.Min, kv.Value.Max }),
            },
        });
    }

    // Every rewritten graph must pass the same validation an upload does before it is measured or registered.
    private static Dictionary<string, object?> Validated(string output, Dictionary<string, object?> info)
    {
        try
        {
            var read = OnnxModelReader.Read(output);
            info["operators_domains"] = read.Opsets.Select(o => o.Domain.Length == 0 ? "ai.onnx" : o.Domain).ToArray();
            return info;
        }
        catch (InvalidModelFileException e)
        {
            throw new JobFailedException("invalid_rewrite", $"the rewritten model fails MaaS's ONNX validation: {e.Message}", e);
        }
    }

    // Stages "measuring" (outputs compared, 40%) and "timing" (latency and throughput, 70%).
    private async Task<Dictionary<string, object?>> MeasureOnnxAsync(JobRun run, OptimizationSpec spec, string sourcePath, string output, Calibration? calibration)
    {
        var token = run.CancellationToken;
        await run.ReportAsync(new JobProgress { Percent = 40, Stage = "measuring" });

        // Called on the job's own thread (a dedicated one), so waiting for the report there blocks no request.
        void Timing() => run.ReportAsync(new JobProgress { Percent = 70, Stage = "timing" }).GetAwaiter().GetResult();
        OnnxComparisonResult c;
        try
        {
            // A statically quantised model is compared on the rows it was calibrated for: random inputs outside its ranges would clip by design.
            c = calibration is null
                ? OnnxComparison.Compare(sourcePath, output, spec.Samples, spec.Seed, options.TimedRuns, token, batch: spec.ThroughputBatch, timing: Timing)
                : OnnxComparison.Compare(sourcePath, output, Math.Min(spec.Samples, calibration.Count), spec.Seed, options.TimedRuns, token, calibration.Feed,
                    spec.ThroughputBatch, Timing);
        }
        catch (OnnxRuntimeException e)
        {
            throw new JobFailedException("invalid_rewrite", $"ONNX Runtime cannot run the rewritten model: {e.Message}", e);
        }
        catch (NotSupportedException e)
        {
            throw new JobFailedException("cannot_measure", e.Message, e);
        }

        var report = new Dictionary<string, object?>
        {
            ["samples"] = c.Samples,
            ["seed"] = spec.Seed,
            ["max_abs_diff"] = c.MaxAbsDiff,
            ["mean_abs_diff"] = c.MeanAbsDiff,
            ["relative_mean_abs_diff"] = c.SourceMeanAbs > 0 ? c.MeanAbsDiff / c.SourceMeanAbs : c.MeanAbsDiff,
            ["nonfinite_values"] = c.NonFiniteValues,
            ["mismatched_values"] = c.MismatchedValues,
            ["top1_agreement"] = c.Top1Agreement,
            ["latency_p50_ms"] = c.LatencyP50Ms,
            ["source_latency_p50_ms"] = c.SourceLatencyP50Ms,
            ["latency_ratio"] = c.SourceLatencyP50Ms > 0 ? c.LatencyP50Ms / c.SourceLatencyP50Ms : null,
            ["batch"] = 1,
            ["throughput_batch"] = c.ThroughputBatch,
            ["throughput_per_second"] = c.ThroughputPerSecond,
            ["source_throughput_per_second"] = c.SourceThroughputPerSecond,
            ["throughput_ratio"] = c.SourceThroughputPerSecond > 0 ? c.ThroughputPerSecond / c.SourceThroughputPerSecond : null,
            ["throughput_note"] = c.ThroughputNote,
            ["compared_on"] = calibration is null ? "seeded random inputs" : calibration.ComparedOn ?? (calibration.Picture is null ? "calibration rows" : "calibration pictures"),
        };
        if (spec.Method == OptimizationMethods.PruneMagnitude)
        {
            // Dense kernels do the same work on zeros; what shrinks is the file once compressed.
            report["compressed_size_bytes"] = CompressedSize(output);
            report["source_compressed_size_bytes"] = CompressedSize(sourcePath);
            report["note"] = "unstructured sparsity: dense CPU kernels are not faster; the compressed artifact is smaller";
        }

        return report;
    }

    private static long CompressedSize(string path)
    {
        using var counter = new CountingStream();
        using (var gzip = new GZipStream(counter, CompressionLevel.Optimal, leaveOpen: true))
        using (var file = File.OpenRead(path))
        {
            file.CopyTo(gzip);
        }

        return counter.Length;
    }

    // Stages "measuring source" (40%) and "measuring" (the quantised model, 65%).
    private async Task<Dictionary<string, object?>> MeasureGgufAsync(JobRun run, string sourcePath, string output)
    {
        var token = run.CancellationToken;
        await run.ReportAsync(new JobProgress { Percent = 40, Stage = "measuring source" });
        LlmMeasurementResult before, after;
        try
        {
            before = LlmMeasurement.Measure(sourcePath, HeldOutText.Passage, options.Threads, token);
        }
        catch (Exception e) when (e is LlamaException or ArgumentException)
        {
            // The source itself cannot be measured (not a causal language model, a vocabulary that cannot read the passage, ...).
            throw new JobFailedException("cannot_measure", $"llama.cpp cannot measure the source model on the held-out passage: {e.Message}", e);
        }

        await run.ReportAsync(new JobProgress { Percent = 65, Stage = "measuring" });
        try
        {
            after = LlmMeasurement.Measure(output, HeldOutText.Passage, options.Threads, token);
        }
        catch (Exception e) when (e is LlamaException or ArgumentException)
        {
            throw new JobFailedException("invalid_rewrite", $"llama.cpp cannot run the quantised model: {e.Message}", e);
        }

        return new Dictionary<string, object?>
        {
            ["perplexity"] = after.Perplexity,
            ["source_perplexity"] = before.Perplexity,
            ["perplexity_increase"] = (after.Perplexity - before.Perplexity) / before.Perplexity,
            ["eval_tokens"] = after.EvaluatedTokens,
            ["eval_text"] = "built-in passage",
            ["prompt_tokens_per_second"] = after.PromptTokensPerSecond,
            ["source_prompt_tokens_per_second"] = before.PromptTokensPerSecond,
            ["prompt_speedup"] = after.PromptTokensPerSecond / before.PromptTokensPerSecond,
            ["generation_tokens_per_second"] = after.GenerationTokensPerSecond,
            ["source_generation_tokens_per_second"] = before.GenerationTokensPerSecond,
            ["generation_speedup"] = after.GenerationTokensPerSecond / before.GenerationTokensPerSecond,
            ["generated_tokens"] = after.GeneratedTokens,
            ["threads"] = options.Threads,
        };
    }

    private async Task<int> RegisterAsync(JobRun run, OptimizationSpec spec, OptimizationMethod method, ModelVersion source, string output, string status,
        Dictionary<string, object?> report)
    {
        // The point of no return, right before the effects that must happen once: a cancel that came first (even after
        // the job's last look at its token) stops it here with nothing registered, one after it is refused; a worker
        // that lost its lease stops here too.
        await run.BeginFinishingAsync();
        var existing = (await registry.ListVersionsAsync(spec.Model, run.CancellationToken))
            .FirstOrDefault(v => v.Metadata.TryGetValue(OptimizationMetadata.JobKey, out var job) && job == run.Job.Id);
        int number;
        if (existing is not null)
        {
            number = existing.Version;
            await run.EventAsync("log", new { message = $"version {number} was already registered by an earlier attempt of this job; adopted" });
        }
        else
        {
            var metadata = source.Metadata.Where(kv => !NotInherited.Contains(kv.Key)).ToDictionary(kv => kv.Key, kv => kv.Value, StringComparer.Ordinal);
            metadata[OptimizationMetadata.JobKey] = run.Job.Id;
            metadata[OptimizationMetadata.Key] = Json(new Dictionary<string, object?>
            {
                ["status"] = status,
                ["method"] = spec.Method,
                ["job"] = run.Job.Id,
                ["source"] = new Dictionary<string, object?> { ["model"] = source.Model, ["version"] = source.Version, ["sha256"] = source.Sha256 },
                ["report"] = report,
            });
            await using var draft = await registry.BeginVersionAsync(
                spec.Model,
                new NewVersionOptions { Metadata = metadata, CreatedBy = spec.CreatedBy, DerivedFrom = new Lineage(source.Model, source.Version, method.Relation) },
                CancellationToken.None);
            await using (var file = File.OpenRead(output))
            {
                await draft.AddFileAsync(Path.GetFileName(source.FileName), file, null, CancellationToken.None);
            }

            number = (await registry.CommitVersionAsync(draft, CancellationToken.None)).Version;
        }

        if (status == OptimizationMetadata.Ready && !string.IsNullOrEmpty(spec.Alias))
        {
            await registry.SetAliasAsync(spec.Model, spec.Alias, number, AliasPrecondition.None, spec.CreatedBy, CancellationToken.None);
        }

        return number;
    }

    // Dataset rows (or pictures) fed to the model's one float input at batch 1; Row makes the values of one.
    private sealed record Calibration(string Input, long[] Shape, int Count, Func<int, float[]> Row, int Skipped)
    {
        public IReadOnlyList<string> Columns { get; init; } = [];

        // The stored pictures' [height, width, channels]; null for rows of number columns.
        public int[]? Picture { get; init; }

        // What the rows are, when not calibration rows (a fine-tune's test split).
        public string? ComparedOn { get; init; }

        // Rows fed to several inputs, or not as one float tensor (an evaluation's test rows): the tensors, in input order.
        public Func<int, OnnxTensor[]>? Tensors { get; init; }

        public OnnxTensor[] Feed(int row) => Tensors is { } tensors ? tensors(row % Count) : [OnnxTensor.Create(Row(row % Count), Shape)];

        public IEnumerable<KeyValuePair<string, OnnxTensor>[]> Feeds() =>
            Enumerable.Range(0, Count).Select(i => new[] { new KeyValuePair<string, OnnxTensor>(Input, OnnxTensor.Create(Row(i), Shape)) });
    }

    // Counts the bytes written through it and keeps none.
    private sealed class CountingStream : Stream
    {
        private long _length;

        public override bool CanRead => false;

        public override bool CanSeek => false;

        public override bool CanWrite => true;

        public override long Length => _length;

        public override long Position { get => _length; set => throw new NotSupportedException(); }

        public override void Flush()
        {
        }

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => _length += count;

        public override void Write(ReadOnlySpan<byte> buffer) => _length += buffer.Length;
    }
}
