using System.Globalization;
using System.Text.Json;
using Maas.Core.Datasets;
using Maas.Core.Formats.Onnx;
using Maas.Core.Jobs;
using Maas.Core.Registry;
using Maas.Core.Training;
using Maas.Optimization.Onnx;
using Maas.Runtimes.Onnx;

namespace Maas.Optimization.FineTuning;

/// <summary>
/// <c>options.evaluation</c> beyond the image classifiers MaaS trained (those go through <see cref="PrunedFineTune"/>):
/// table classifiers MaaS trained (metadata <c>maas.tabular</c>: each feature one [N, 1] input, fed and decoded as
/// /predict does, on the test split of their training) and uploaded classifiers the request describes (number columns
/// as one float tensor [N, F], or one image column through a preprocessing preset; the output's argmax, or its labels).
/// </summary>
public static class LabelledEvaluation
{
    /// <summary>A table classifier MaaS trained.</summary>
    public const string Table = "table";

    /// <summary>An uploaded model fed number columns as one float tensor.</summary>
    public const string Tensor = "tensor";

    /// <summary>An uploaded image model fed one image column.</summary>
    public const string Picture = "picture";

    /// <summary>Scores per class: the argmax is the answer.</summary>
    public const string Scores = "scores";

    /// <summary>A label per row, compared as it is.</summary>
    public const string Labels = "labels";

    /// <summary>
    /// <paramref name="spec"/> resolved against the dataset <paramref name="version"/> and a <paramref name="source"/> that
    /// is not an image classifier MaaS trained; or throws <see cref="OptimizationRequestException"/> naming what does not fit.
    /// </summary>
    /// <remarks><paramref name="trained"/> holds the training record that names the label and split (see <see cref="FineTuneSpec.Resolve"/>).</remarks>
    public static FineTuneSpec Resolve(FineTuneSpec spec, DatasetVersion version, ModelVersion source, ModelVersion? trained)
    {
        var reference = new DatasetReference(version.Dataset, version.Version, version.Sha256);
        return SourceMetadata.Tabular(source, FineTuneSpec.EvaluationOption) is { } tabular
            ? ResolveTable(spec, version, source, trained, tabular) with { Dataset = reference }
            : ResolveUploaded(spec, version, source) with { Dataset = reference };
    }

    private static OptimizationRequestException Invalid(string message) => new("invalid_evaluation", message);

    private static string Label(DatasetVersion version) => $"{version.Dataset}:{version.Version.ToString(CultureInfo.InvariantCulture)}";

    private static string ColumnsOf(DatasetVersion version) => RegistryNames.FirstOf(version.Schema.Select(c => c.Name), 30);

    private static string Shape(IEnumerable<long> shape) => $"[{string.Join(", ", shape.Select(d => d < 0 ? "?" : d.ToString(CultureInfo.InvariantCulture)))}]";

    private static void RequireLabel(DatasetVersion version, string label)
    {
        if (version.Schema.All(c => c.Name != label))
        {
            throw Invalid($"{Label(version)} has no label column '{RegistryNames.Shorten(label)}' (its columns: {ColumnsOf(version)})");
        }
    }

    private static FineTuneSpec ResolveTable(FineTuneSpec spec, DatasetVersion version, ModelVersion source, ModelVersion? trained, TabularModelInfo info)
    {
        if (info.Task == TrainingNames.Regression || info.Classes is not { Count: >= 2 })
        {
            throw new OptimizationRequestException("evaluation_not_applicable",
                $"options.evaluation measures a classifier's accuracy; version {source.Version} of '{source.Model}' is a {info.Task} model");
        }

        if (spec.Output is not null || spec.Classes is not null || spec.PreprocessOption is not null)
        {
            throw Invalid($"options.evaluation of a table classifier MaaS trained takes dataset, label, features and split: its metadata ({TabularModelInfo.MetadataKey}) " +
                $"names its output and classes");
        }

        var names = info.Features.Select(f => f.Name).ToArray();
        if (spec.Features is { } given && !given.Order(StringComparer.Ordinal).SequenceEqual(names.Order(StringComparer.Ordinal), StringComparer.Ordinal))
        {
            throw Invalid($"the model takes the features {string.Join(", ", names)} (its training's columns, one input each); options.evaluation.features names " +
                $"{string.Join(", ", given.Select(RegistryNames.Shorten))}");
        }

        foreach (var feature in info.Features)
        {
            var column = version.Schema.FirstOrDefault(c => c.Name == feature.Name)
                ?? throw Invalid($"{Label(version)} has no column '{feature.Name}', a feature of the model (its columns: {ColumnsOf(version)})");
            if (column.Type == DatasetColumnType.Image || (feature.Type == TabularFeature.Number && column.Type == DatasetColumnType.String))
            {
                throw Invalid($"column '{feature.Name}' of {Label(version)} holds {column.Type.ToString().ToLowerInvariant()} values; the model's feature " +
                    $"'{feature.Name}' is a {feature.Type}");
            }
        }

        var record = trained is null ? null : TrainingRecord.Of(trained);
        var label = spec.Label ?? record?.Label ?? throw Invalid("options.evaluation.label is required: the source's lineage names no label column");
        RequireLabel(version, label);
        var split = spec.Split ?? record?.Split;

        return spec with
        {
            Kind = Table,
            Label = label,
            Features = names,
            Split = split ?? new TrainingSplit(),
            Classes = info.Classes,
            Tabular = info,
            Output = info.LabelOutput ?? info.ScoreOutput,
        };
    }

    private static FineTuneSpec ResolveUploaded(FineTuneSpec spec, DatasetVersion version, ModelVersion source)
    {
        var label = spec.Label ?? throw Invalid(
            $"options.evaluation.label is required: version {source.Version} of '{source.Model}' was not trained by MaaS, so nothing names its label column");
        RequireLabel(version, label);
        var inputs = source.Signature.Inputs ?? [];
        if (inputs.Count != 1)
        {
            throw Invalid($"options.evaluation feeds one input; version {source.Version} of '{source.Model}' has {inputs.Count} ({string.Join(", ", inputs.Select(i => i.Name))})");
        }

        var input = inputs[0];
        var images = version.Schema.Where(c => c.Type == DatasetColumnType.Image).Select(c => c.Name).ToArray();
        var layout = ImageInputLayout.Of(input);
        var namesImage = spec.Features is { Count: 1 } f && images.Contains(f[0], StringComparer.Ordinal);
        FineTuneSpec resolved;
        if (layout is not null && (namesImage || (spec.Features is null && images.Length > 0)))
        {
            if (spec.Features is null && images.Length > 1)
            {
                throw Invalid($"{Label(version)} has {images.Length} image columns; name the one to feed with options.evaluation.features ({string.Join(", ", images)})");
            }

            var column = spec.Features?[0] ?? images[0];
            var dims = version.Schema.First(c => c.Name == column).Shape ?? [];
            if (dims.Count is not (2 or 3) || (dims.Count == 3 && dims[2] is not (1 or 3)))
            {
                throw Invalid($"image column '{column}' of {Label(version)} has shape [{string.Join(", ", dims)}]; evaluation reads grey [height, width] or colour " +
                    $"[height, width, 3] pictures");
            }

            Onnx.ImagePreprocessing preprocessing;
            try
            {
                JsonElement? given = spec.PreprocessOption is { } json ? JsonDocument.Parse(json).RootElement.Clone() : null;
                preprocessing = Onnx.ImagePreprocessing.Resolve(given, null, source, layout.Channels);
            }
            catch (OptimizationRequestException e)
            {
                throw Invalid($"options.evaluation: {e.Message.Replace("options.preprocess", "options.evaluation.preprocess", StringComparison.Ordinal)}");
            }

            resolved = spec with
            {
                Kind = Picture,
                Features = [column],
                Image = column,
                Preprocessing = preprocessing,
                ImageLayout = layout,
                InputShape = layout.Shape(dims[0], dims[1])
            };
        }
        else
        {
            if (spec.PreprocessOption is not null)
            {
                throw Invalid($"options.evaluation.preprocess applies to pictures fed to an image input; input '{input.Name}' {Shape(input.Shape)} is fed number columns");
            }

            var numbers = version.Schema.Where(c => c.Type is DatasetColumnType.Number or DatasetColumnType.Boolean && c.Name != label).Select(c => c.Name).ToArray();
            var columns = spec.Features ?? numbers;
            foreach (var name in columns)
            {
                var column = version.Schema.FirstOrDefault(c => c.Name == name)
                    ?? throw Invalid($"options.evaluation.features: {Label(version)} has no column '{RegistryNames.Shorten(name)}' (its columns: {ColumnsOf(version)})");
                if (column.Type is not (DatasetColumnType.Number or DatasetColumnType.Boolean))
                {
                    throw Invalid(column.Type == DatasetColumnType.Image
                        ? $"'{name}' is an image column of {Label(version)}, but input '{input.Name}' {Shape(input.Shape)} is not an image (FP32 [batch, channels, height, " +
                            $"width] or [batch, height, width, channels], 1 or 3 channels)"
                        : $"column '{name}' of {Label(version)} holds {column.Type.ToString().ToLowerInvariant()} values; options.evaluation.features are fed as numbers");
                }
            }

            var shape = input.Shape;
            if (input.Datatype != "FP32" || shape.Count < 2 || shape[0] is not (-1 or 1) || shape.Skip(1).Any(d => d <= 0))
            {
                throw Invalid($"options.evaluation feeds number columns as one FP32 tensor [batch, features]; input '{input.Name}' is {input.Datatype} {Shape(shape)}");
            }

            var perRow = shape.Skip(1).Aggregate(1L, (a, d) => a * d);
            if (perRow != columns.Count)
            {
                throw Invalid($"input '{input.Name}' {Shape(shape)} takes {perRow} values per row; options.evaluation.features {(spec.Features is null ? $"(by default every " +
                    $"number column but the label) gives {columns.Count}" : $"gives {columns.Count}")} column{(columns.Count == 1 ? "" : "s")}");
            }

            resolved = spec with { Kind = Tensor, Features = columns, InputShape = [1, .. shape.Skip(1)] };
        }

        var (output, kind) = ResolveOutput(spec, version, source, label);
        return resolved with { Input = input.Name, Output = output, OutputKind = kind, Label = label };
    }

    // The output read and how: float scores per class ([batch, classes]) or a label per row (integers or strings).
    private static (string Output, string Kind) ResolveOutput(FineTuneSpec spec, DatasetVersion version, ModelVersion source, string label)
    {
        var outputs = source.Signature.Outputs ?? [];
        var output = spec.Output is { } name
            ? outputs.FirstOrDefault(o => o.Name == name) ?? throw Invalid($"options.evaluation.output: version {source.Version} of '{source.Model}' has no output " +
                $"'{RegistryNames.Shorten(name)}' (its outputs: {string.Join(", ", outputs.Select(o => o.Name).DefaultIfEmpty("none"))})")
            : outputs.FirstOrDefault() ?? throw Invalid($"version {source.Version} of '{source.Model}' has no outputs");
        var shape = output.Shape;
        var perRow = shape.Count == 1 || (shape.Count == 2 && shape[1] == 1);
        var numericLabel = version.Schema.First(c => c.Name == label).Type == DatasetColumnType.Number;
        if (output.Datatype is "FP32" or "FP64" && shape.Count == 2 && shape[1] is not (0 or 1))
        {
            if (spec.Classes is { } classes && shape[1] > 0 && classes.Count != shape[1])
            {
                throw Invalid($"output '{output.Name}' {Shape(shape)} gives {shape[1]} scores per row; options.evaluation.classes names {classes.Count} classes");
            }

            if (spec.Classes is null && !numericLabel)
            {
                throw Invalid($"label column '{label}' of {Label(version)} holds text; give options.evaluation.classes (the label of each score, in order) so the scores' " +
                    $"argmax can be compared with it");
            }

            return (output.Name, Scores);
        }

        if (output.Datatype is "INT64" or "INT32" && perRow)
        {
            if (spec.Classes is null && !numericLabel)
            {
                throw Invalid($"output '{output.Name}' gives integer labels and label column '{label}' of {Label(version)} holds text; give options.evaluation.classes (the " +
                    $"label of each integer, from 0)");
            }

            return (output.Name, Labels);
        }

        if (output.Datatype == "BYTES" && perRow)
        {
            return (output.Name, Labels);
        }

        throw Invalid($"output '{output.Name}' ({output.Datatype} {Shape(shape)}) is not a classifier's: accuracy needs scores per class (FP32 [batch, classes], their argmax " +
            $"taken) or a label per row (an integer or string output [batch]); name another with options.evaluation.output");
    }

    /// <summary>The test rows of <paramref name="table"/> for <paramref name="spec"/> (resolved), as the job feeds them.</summary>
    public static EvaluationData Data(FineTuneSpec spec, DatasetTable table)
    {
        var label = $"{spec.Dataset!.Name}:{spec.Dataset.Version}";
        var labelIndex = table.IndexOf(spec.Label!);
        var features = spec.Features!.Select(table.IndexOf).ToArray();
        if (labelIndex < 0 || features.Any(i => i < 0))
        {
            throw new JobFailedException("invalid_evaluation", $"{label} no longer has the label column '{spec.Label}' and the columns {string.Join(", ", spec.Features!)}");
        }

        var rows = table.Rows;
        var expected = new string?[rows.Count];
        for (var r = 0; r < rows.Count; r++)
        {
            expected[r] = rows[r][labelIndex] is { } value ? DatasetStatisticsCalculator.Key(value) : null;
        }

        var labelled = Enumerable.Range(0, rows.Count).Where(r => expected[r] is not null).ToArray();
        var test = spec.Split is { } split ? TestSplit(labelled, expected, split) : labelled;
        bool Usable(int r) => spec.Kind switch
        {
            _ when spec.Classes is { } classes && spec.OutputKind != Labels && !classes.Contains(expected[r]!, StringComparer.Ordinal) => false,
            Tensor => features.All(f => rows[r][f] is double d ? double.IsFinite(d) : rows[r][f] is bool),
            Picture => rows[r][features[0]] is byte[] pixels && pixels.Length == PictureSize(table, features[0]),
            _ => true,
        };
        var usable = test.Where(Usable).ToArray();
        if (usable.Length == 0)
        {
            throw new JobFailedException("dataset_too_small", $"{label} leaves no {(spec.Split is null ? "labelled" : "test")} row the model can be measured on");
        }

        var names = spec.Kind == Table ? spec.Tabular!.Features.Select(f => f.Name).ToArray() : [spec.Input!];
        return new EvaluationData(usable, expected, test.Length - usable.Length, batch => Inputs(spec, table, features, batch), names);
    }

    private static int PictureSize(DatasetTable table, int column)
    {
        var dims = table.Columns[column].Shape ?? [];
        return dims.Aggregate(1, (a, d) => a * d);
    }

    // The training job's split: labelled rows grouped by class (groups in ordinal order of their key), each group
    // shuffled by one generator seeded with the split's seed, test taken from its front.
    private static int[] TestSplit(int[] labelled, string?[] expected, TrainingSplit split)
    {
        var random = new Random(split.Seed);
        var test = new List<int>();
        foreach (var group in labelled.GroupBy(r => expected[r]!).OrderBy(g => g.Key, StringComparer.Ordinal).Select(g => g.ToArray()))
        {
            random.Shuffle(group);
            test.AddRange(group.Take((int)Math.Round(group.Length * split.Test)));
        }

        return [.. test.Order()];
    }

    private static OnnxTensor[] Inputs(FineTuneSpec spec, DatasetTable table, int[] features, IReadOnlyList<int> batch)
    {
        var rows = table.Rows;
        switch (spec.Kind)
        {
            case Table:
                var info = spec.Tabular!;
                var tensors = new OnnxTensor[info.Features.Count];
                for (var f = 0; f < tensors.Length; f++)
                {
                    var column = TabularCodec.Column(info.Features[f], batch.Select(r => rows[r][features[f]]).ToArray());
                    tensors[f] = column is float[] numbers ? OnnxTensor.Create(numbers, batch.Count, 1) : OnnxTensor.CreateStrings((string[])column, [batch.Count, 1]);
                }

                return tensors;
            case Tensor:
                var perRow = features.Length;
                var values = new float[batch.Count * perRow];
                for (var i = 0; i < batch.Count; i++)
                {
                    for (var f = 0; f < perRow; f++)
                    {
                        values[(i * perRow) + f] = rows[batch[i]][features[f]] switch { double d => (float)d, bool b => b ? 1 : 0, _ => float.NaN };
                    }
                }

                return [OnnxTensor.Create(values, [(long)batch.Count, .. spec.InputShape!.Skip(1)])];
            case Picture:
                var dims = table.Columns[features[0]].Shape!;
                var (height, width, channels) = (dims[0], dims[1], dims.Count == 3 ? dims[2] : 1);
                var shape = spec.InputShape!.ToArray();
                var layout = spec.ImageLayout!;
                var size = shape.Skip(1).Aggregate(1L, (a, d) => a * d);
                var pictures = new float[batch.Count * size];
                for (var i = 0; i < batch.Count; i++)
                {
                    CalibrationImages.ToInput((byte[])rows[batch[i]][features[0]]!, height, width, channels, layout, spec.Preprocessing!).CopyTo(pictures, i * size);
                }

                return [OnnxTensor.Create(pictures, [(long)batch.Count, .. shape.Skip(1)])];
            default:
                throw new JobFailedException("invalid_spec", $"options.evaluation of kind '{spec.Kind}' is not known to this worker");
        }
    }

    /// <summary>The share of the test rows whose answer from the model at <paramref name="path"/> (ONNX Runtime, CPU) is their label.</summary>
    /// <exception cref="OnnxRuntimeException">The model does not load or run.</exception>
    /// <exception cref="JobFailedException">The model's output is not what the evaluation was resolved against.</exception>
    public static double Accuracy(string path, FineTuneSpec spec, EvaluationData data, CancellationToken token)
    {
        using var options = new OnnxSessionOptions { IntraOpThreads = 1, InterOpThreads = 1 };
        using var session = OnnxSession.Open(path, options);

        // A fixed batch dimension (or picture sizes the model leaves open) is fed one row at a time.
        var batchSize = session.Inputs.All(i => i.Dims.Length > 0 && i.Dims[0] == -1) ? 64 : 1;
        var info = spec.Tabular;
        var outputs = info is null ? [spec.Output!] : new[] { info.ScoreOutput, info.LabelOutput, info.ProbabilityOutput }.OfType<string>().ToArray();
        var right = 0;
        for (var start = 0; start < data.Test.Length; start += batchSize)
        {
            token.ThrowIfCancellationRequested();
            var batch = data.Test.AsSpan(start, Math.Min(batchSize, data.Test.Length - start)).ToArray();
            var tensors = data.Inputs(batch);
            try
            {
                var named = data.InputNames.Select((n, k) => new KeyValuePair<string, OnnxTensor>(n, tensors[k])).ToArray();
                using var values = session.Run(named, outputs, cancellationToken: token);
                var answers = info is null ? Answers(spec, values[0], batch.Length) : Answers(info, values, batch.Length);
                for (var i = 0; i < batch.Length; i++)
                {
                    right += answers[i] == data.Expected[batch[i]] ? 1 : 0;
                }
            }
            finally
            {
                foreach (var tensor in tensors)
                {
                    tensor.Dispose();
                }
            }
        }

        return (double)right / data.Test.Length;
    }

    // A table classifier's answers, decoded as /predict decodes them.
    private static string[] Answers(TabularModelInfo info, OnnxValues values, int rows)
    {
        var score = values[0].GetData<float>().ToArray();
        var label = info.LabelOutput is null ? null : Integers(values[1]);
        var probability = info.ProbabilityOutput is null ? null : values[info.LabelOutput is null ? 1 : 2].GetData<float>().ToArray();
        return TabularCodec.Decode(info, rows, score, label, probability).Select(a => info.Classes![a.ClassIndex!.Value]).ToArray();
    }

    // An uploaded model's answers: the argmax of its scores, or its labels, as label keys.
    private static string[] Answers(FineTuneSpec spec, OnnxTensor output, int rows)
    {
        var classes = spec.Classes;
        string Of(long index) => classes is null ? index.ToString(CultureInfo.InvariantCulture) : index >= 0 && index < classes.Count ? classes[(int)index] : $"#{index}";
        if (output.ElementType == OnnxElementType.String)
        {
            return output.GetStrings();
        }

        if (spec.OutputKind == Labels)
        {
            var labels = Integers(output);
            return labels.Length == rows ? labels.Select(Of).ToArray()
                : throw new JobFailedException("cannot_measure", $"output '{spec.Output}' gave {labels.Length} labels for {rows} rows");
        }

        var scores = output.ElementType == OnnxElementType.Double ? output.GetData<double>().ToArray() : output.GetData<float>().ToArray().Select(v => (double)v).ToArray();
        var k = rows > 0 ? scores.Length / rows : 0;
        if (k < 2 || k * rows != scores.Length || (classes is not null && classes.Count != k))
        {
            throw new JobFailedException("cannot_measure", $"output '{spec.Output}' gave {scores.Length} values for {rows} rows; the evaluation reads " +
                $"{(classes is null ? "at least 2" : classes.Count.ToString(CultureInfo.InvariantCulture))} scores per row");
        }

        var answers = new string[rows];
        for (var i = 0; i < rows; i++)
        {
            // NaN is never the largest: a row of NaN scores answers class 0.
            var top = 0;
            for (var c = 1; c < k; c++)
            {
                top = scores[(i * k) + c] > scores[(i * k) + top] ? c : top;
            }

            answers[i] = Of(top);
        }

        return answers;
    }

    private static long[] Integers(OnnxTensor tensor) =>
        tensor.LabelsAsInt64() ?? throw new JobFailedException("cannot_measure", $"a label output of type {tensor.ElementType} is not understood");
}
