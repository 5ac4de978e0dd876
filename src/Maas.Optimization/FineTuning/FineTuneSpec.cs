using System.Globalization;
using System.Text.Json;
using Maas.Core.Datasets;
using Maas.Core.Registry;
using Maas.Core.Training;

namespace Maas.Optimization.FineTuning;

/// <summary>
/// <c>options.fine_tune</c> of the pruning methods: the pruned network trains on a dataset version with the ggml
/// trainer before it is measured. The names are the training job's: dataset, label, features, trainer,
/// hyperparameters, split; what is not given comes from the source's own training (its lineage).
/// </summary>
public sealed record FineTuneSpec
{
    /// <summary>The option of a fine-tune: <c>options.fine_tune</c>.</summary>
    public const string FineTuneOption = "fine_tune";

    /// <summary>
    /// The option of an evaluation without training (<c>options.evaluation</c>): the same dataset, label, features and
    /// split, resolved the same way, whose test split accuracy is measured on.
    /// </summary>
    public const string EvaluationOption = "evaluation";

    /// <summary>The option this was given as: <see cref="FineTuneOption"/> or <see cref="EvaluationOption"/>; it names the errors.</summary>
    public string Option { get; init; } = FineTuneOption;

    /// <summary>The dataset as given ("name" or "name:version").</summary>
    public required string Reference { get; init; }

    /// <summary>The dataset version, resolved when the job was submitted.</summary>
    public DatasetReference? Dataset { get; init; }

    /// <summary>The label column (null until resolved: the source's).</summary>
    public string? Label { get; init; }

    /// <summary>The image column (null until resolved: the source's one feature).</summary>
    public string? Image { get; init; }

    /// <summary>adamw or sgd (null until resolved: the source's trainer, else adamw).</summary>
    public string? Trainer { get; init; }

    /// <summary>epochs, batch_size, learning_rate, weight_decay, patience, beta1, beta2 as given.</summary>
    public IReadOnlyDictionary<string, double> Hyperparameters { get; init; } = new Dictionary<string, double>();

    /// <summary>Validation and test fractions and the seed (null until resolved: the source's split, so its test rows stay unseen).</summary>
    public TrainingSplit? Split { get; init; }

    /// <summary>The class labels in score order (the source's, or options.evaluation.classes), resolved when the job was submitted.</summary>
    public IReadOnlyList<string>? Classes { get; init; }

    /// <summary>
    /// options.evaluation: how the source is fed and read (<see cref="LabelledEvaluation"/>): null for an image classifier
    /// MaaS trained, else <see cref="LabelledEvaluation.Table"/>, <see cref="LabelledEvaluation.Tensor"/> or <see cref="LabelledEvaluation.Picture"/>.
    /// </summary>
    public string? Kind { get; init; }

    /// <summary>options.evaluation.features as given, then resolved: the columns the model is fed, in input order.</summary>
    public IReadOnlyList<string>? Features { get; init; }

    /// <summary>options.evaluation.output as given, then resolved: the output read (uploaded models).</summary>
    public string? Output { get; init; }

    /// <summary>Uploaded models: "scores" (argmax taken) or "labels" (compared as they are).</summary>
    public string? OutputKind { get; init; }

    /// <summary>Uploaded models: the one input fed.</summary>
    public string? Input { get; init; }

    /// <summary>Uploaded models: the input's shape for one row (batch 1).</summary>
    public IReadOnlyList<long>? InputShape { get; init; }

    /// <summary>Table classifiers MaaS trained: their metadata (features, classes, outputs).</summary>
    public TabularModelInfo? Tabular { get; init; }

    /// <summary>options.evaluation.preprocess as given (JSON), for uploaded image models.</summary>
    public string? PreprocessOption { get; init; }

    /// <summary>Uploaded image models: the input's layout.</summary>
    public Onnx.ImageInputLayout? ImageLayout { get; init; }

    /// <summary>Uploaded image models: how pixels become input values, resolved when the job was submitted.</summary>
    public Onnx.ImagePreprocessing? Preprocessing { get; init; }

    /// <summary>The epochs trained when hyperparameters.epochs is not given.</summary>
    public const int DefaultEpochs = 5;

    /// <summary>The keys <c>options.fine_tune</c> takes.</summary>
    public static IReadOnlyList<string> Keys { get; } = ["dataset", "label", "features", "trainer", "hyperparameters", "split"];

    /// <summary>The keys <c>options.evaluation</c> takes (nothing trains, so no trainer or hyperparameters).</summary>
    public static IReadOnlyList<string> EvaluationKeys { get; } = ["dataset", "label", "features", "split", "output", "classes", "preprocess"];

    /// <summary>
    /// Checks <c>options.fine_tune</c> (or, with <paramref name="option"/> <see cref="EvaluationOption"/>,
    /// <c>options.evaluation</c>) as given, or throws <see cref="OptimizationRequestException"/>; the dataset is resolved later.
    /// </summary>
    public static FineTuneSpec Parse(JsonElement element, string option = FineTuneOption)
    {
        var given = GivenKeys(element, option);
        var dataset = given.Text("dataset") ?? throw given.Invalid(
            $"{given.Path}.dataset (the labelled dataset version to {(option == FineTuneOption ? "train" : "measure accuracy")} on: 'name' or 'name:version') is required");
        OptimizationRequestParser.DatasetReference(dataset, $"{option}.dataset");
        var trainer = given.Text("trainer");
        if (trainer is not (null or "adamw" or "sgd"))
        {
            throw given.Invalid($"options.fine_tune.trainer must be adamw or sgd, not '{RegistryNames.Shorten(trainer)}'");
        }

        var (image, features) = ParseFeatures(given);
        var classes = ParseClasses(given);
        var preprocess = ParsePreprocess(given);
        var hyperparameters = ParseHyperparameters(given, trainer);
        var split = given.Value("split") is { } s ? ParseSplit(s, given.Path, given.Invalid) : null;
        return new FineTuneSpec
        {
            Option = option,
            Reference = dataset,
            Label = given.Text("label"),
            Image = image,
            Features = features,
            Output = given.Text("output"),
            Classes = classes,
            PreprocessOption = preprocess,
            Trainer = trainer,
            Hyperparameters = hyperparameters,
            Split = split,
        };
    }

    // The keys of the option as given; refused unless it is an object of the option's keys only.
    private static OptionObject GivenKeys(JsonElement element, string option)
    {
        if (element.ValueKind != JsonValueKind.Object)
        {
            throw new OptionObject(option, []).Invalid(option == FineTuneOption
                ? "options.fine_tune must be an object {\"dataset\": \"name:version\", \"hyperparameters\": {\"epochs\": n, ...}, ...}"
                : "options.evaluation must be an object {\"dataset\": \"name:version\", \"label\"?, \"features\"?, \"split\"?, \"output\"?, \"classes\"?, \"preprocess\"?}");
        }

        var values = new Dictionary<string, JsonElement>(StringComparer.Ordinal);
        foreach (var property in element.EnumerateObject())
        {
            if (!values.TryAdd(property.Name, property.Value))
            {
                // JSON allows a repeated key, but which of the two was meant is anyone's guess.
                throw new OptionObject(option, []).Invalid($"options.{option} gives '{RegistryNames.Shorten(property.Name)}' more than once");
            }
        }

        var given = new OptionObject(option, values);
        var keys = option == FineTuneOption ? Keys : EvaluationKeys;
        if (given.Names.FirstOrDefault(k => !keys.Contains(k)) is { } unknown)
        {
            throw given.Invalid($"{given.Path} takes {string.Join(", ", keys)}, not '{RegistryNames.Shorten(unknown)}'");
        }

        return given;
    }

    // features: a fine-tune's one image column; an evaluation's columns, in input order (its image column when only one).
    private static (string? Image, string[]? Features) ParseFeatures(OptionObject given)
    {
        if (given.Value("features") is not { } f)
        {
            return (null, null);
        }

        var o = given.Path;
        if (given.Option != EvaluationOption)
        {
            if (f.ValueKind != JsonValueKind.Array || f.GetArrayLength() != 1 || f[0].ValueKind != JsonValueKind.String)
            {
                throw given.Invalid($"{o}.features must name the one image column, e.g. [\"image\"]");
            }

            return (f[0].GetString(), null);
        }

        // An evaluation may feed several number columns (a table classifier, or one float input of an uploaded model).
        if (f.ValueKind != JsonValueKind.Array || f.GetArrayLength() == 0 || f.EnumerateArray().Any(e => e.ValueKind != JsonValueKind.String))
        {
            throw given.Invalid($"{o}.features must be a non-empty array of column names, e.g. [\"image\"] or [\"x1\", \"x2\"]");
        }

        var features = f.EnumerateArray().Select(e => e.GetString()!).ToArray();
        if (features.Distinct(StringComparer.Ordinal).Count() != features.Length)
        {
            throw given.Invalid($"{o}.features names a column twice");
        }

        return (features.Length == 1 ? features[0] : null, features);
    }

    // classes: at least two distinct label values in the order of the model's scores.
    private static string[]? ParseClasses(OptionObject given)
    {
        if (given.Value("classes") is not { } c)
        {
            return null;
        }

        if (c.ValueKind != JsonValueKind.Array || c.GetArrayLength() < 2
            || c.EnumerateArray().Any(e => e.ValueKind != JsonValueKind.String && !(e.ValueKind == JsonValueKind.Number && e.TryGetDouble(out var d) && double.IsFinite(d))))
        {
            throw given.Invalid($"{given.Path}.classes must be an array of at least two label values (strings or finite numbers), in the order of the model's scores");
        }

        // Numbers as the dataset's label keys write them, so 1 and 1.0 both match a label cell of 1.
        var classes = c.EnumerateArray().Select(e => e.ValueKind == JsonValueKind.Number ? DatasetStatisticsCalculator.Key(e.GetDouble()) : e.GetString()!).ToArray();
        if (classes.Distinct(StringComparer.Ordinal).Count() != classes.Length)
        {
            throw given.Invalid($"{given.Path}.classes names a label twice");
        }

        return classes;
    }

    // preprocess: a preset's name or an object, kept as given (JSON) and read when the job is submitted.
    private static string? ParsePreprocess(OptionObject given)
    {
        if (given.Value("preprocess") is not { } pre)
        {
            return null;
        }

        if (pre.ValueKind is not (JsonValueKind.String or JsonValueKind.Object))
        {
            throw given.Invalid($"{given.Path}.preprocess must be a preset name ({string.Join(", ", Onnx.ImagePreprocessing.Presets.Keys)}) or an object {{\"mean\": " +
                $"[...], \"std\": [...]}}");
        }

        return pre.GetRawText();
    }

    // hyperparameters: numbers within the trainer's ranges (adamw's when no trainer is named), whole where they count.
    private static Dictionary<string, double> ParseHyperparameters(OptionObject given, string? trainer)
    {
        var hyperparameters = new Dictionary<string, double>(StringComparer.Ordinal);
        if (given.Value("hyperparameters") is not { } h)
        {
            return hyperparameters;
        }

        if (h.ValueKind != JsonValueKind.Object)
        {
            throw given.Invalid("options.fine_tune.hyperparameters must be an object of numbers");
        }

        var ranges = TrainingNames.Hyperparameters[trainer ?? "adamw"];
        foreach (var p in h.EnumerateObject())
        {
            if (!ranges.TryGetValue(p.Name, out var range))
            {
                throw given.Invalid($"options.fine_tune.hyperparameters takes {string.Join(", ", ranges.Keys)}, not '{RegistryNames.Shorten(p.Name)}'");
            }

            if (p.Value.ValueKind != JsonValueKind.Number || !p.Value.TryGetDouble(out var value) || value < range.Min || value > range.Max
                || (p.Name is "epochs" or "batch_size" or "patience" && value != Math.Floor(value)))
            {
                throw given.Invalid($"options.fine_tune.hyperparameters.{p.Name} must be a {(p.Name is "epochs" or "batch_size" or "patience" ? "whole number" : "number")} " +
                    $"from {range.Min.ToString(CultureInfo.InvariantCulture)} to {range.Max.ToString(CultureInfo.InvariantCulture)}");
            }

            hyperparameters[p.Name] = value;
        }

        return hyperparameters;
    }

    // The option's object as given (options.fine_tune or options.evaluation): its values by key, and its refusals
    // (invalid_fine_tune, invalid_evaluation).
    private sealed class OptionObject(string option, Dictionary<string, JsonElement> given)
    {
        public string Option => option;

        public string Path { get; } = $"options.{option}";

        public IEnumerable<string> Names => given.Keys;

        public OptimizationRequestException Invalid(string message) => new($"invalid_{option}", message);

        // A key's value; null when it is not given or given as null.
        public JsonElement? Value(string key) => given.TryGetValue(key, out var v) && v.ValueKind != JsonValueKind.Null ? v : null;

        public string? Text(string key) => Value(key) is not { } v ? null
            : v.ValueKind == JsonValueKind.String ? v.GetString() : throw Invalid($"{Path}.{key} must be a string");
    }

    /// <summary>
    /// This spec resolved against the dataset <paramref name="version"/> and the <paramref name="source"/> model (which
    /// must be a classifier the ggml trainer made: its metadata says its input, shape and classes); or throws
    /// <see cref="OptimizationRequestException"/> saying what does not fit. The label, image column and split left out
    /// come from the training record of <paramref name="trainedVersion"/>: the source itself, or for a source an optimisation
    /// derived, the version it derives from (<see cref="Maas.Core.Training.TrainedVersion"/>); null when none has one.
    /// </summary>
    public FineTuneSpec Resolve(DatasetVersion version, ModelVersion source, ModelVersion? trainedVersion)
    {
        var label = $"{version.Dataset}:{version.Version.ToString(CultureInfo.InvariantCulture)}";
        var o = $"options.{Option}";
        OptimizationRequestException Invalid(string message) => new($"invalid_{Option}", message);
        var image = SourceMetadata.Image(source, Option);
        if (Option == EvaluationOption && image is null)
        {
            // Table classifiers MaaS trained, and uploaded classifiers described by the request.
            return LabelledEvaluation.Resolve(this, version, source, trainedVersion);
        }

        if (Option == EvaluationOption && (Output is not null || PreprocessOption is not null || Classes is not null || Features is { Count: > 1 }))
        {
            throw Invalid($"{o} of an image classifier MaaS trained takes dataset, label, one image column as features, and split: its metadata names its classes, " +
                $"output and preprocessing");
        }

        if (image is not { } trained)
        {
            throw new OptimizationRequestException($"{Option}_not_applicable", $"options.fine_tune trains the pruned network with MaaS's ggml trainer, which reads image " +
                $"classifiers it trained itself; version {source.Version} of '{source.Model}' was not trained by it (no {SourceMetadata.ImageKey} metadata)");
        }

        var (classes, shape) = trained;
        var record = trainedVersion is null ? null : TrainingRecord.Of(trainedVersion);
        var labelColumn = Label ?? record?.Label ?? throw Invalid($"{o}.label is required: the source's lineage names no label column");
        var imageColumn = Image ?? record?.ImageColumn ?? throw Invalid($"{o}.features is required: the source's lineage names no image column");
        var column = version.Schema.FirstOrDefault(c => c.Name == imageColumn);
        if (column is not { Type: DatasetColumnType.Image, Shape: { } dims })
        {
            throw Invalid($"{label} has no image column '{RegistryNames.Shorten(imageColumn)}' (its image columns: " +
                $"{string.Join(", ", version.Schema.Where(c => c.Type == DatasetColumnType.Image).Select(c => c.Name).DefaultIfEmpty("none"))})");
        }

        // The network reads [channels, height, width]; the pictures are stored [height, width(, channels)].
        int[] stored = dims.Count switch { 2 => [1, dims[0], dims[1]], 3 => [dims[2], dims[0], dims[1]], _ => [] };
        if (!stored.SequenceEqual(shape))
        {
            throw Invalid($"image column '{imageColumn}' of {label} holds pictures of [{string.Join(", ", dims)}]; the model takes [channels, height, width] = " +
                $"[{string.Join(", ", shape)}]");
        }

        if (version.Schema.All(c => c.Name != labelColumn))
        {
            throw Invalid($"{label} has no label column '{RegistryNames.Shorten(labelColumn)}'");
        }

        var split = Split ?? record?.Split;
        var trainer = Trainer ?? (record?.Trainer is "adamw" or "sgd" ? record.Trainer : "adamw");
        return this with
        {
            Dataset = new DatasetReference(version.Dataset, version.Version, version.Sha256),
            Label = labelColumn,
            Image = imageColumn,
            Trainer = trainer,
            Split = split ?? new TrainingSplit(),
            Classes = classes,
        };
    }

    private static TrainingSplit ParseSplit(JsonElement s, string o, Func<string, OptimizationRequestException> invalid)
    {
        if (s.ValueKind != JsonValueKind.Object)
        {
            throw invalid($"{o}.split must be an object {{\"validation\", \"test\", \"seed\"}}");
        }

        var split = new TrainingSplit();
        foreach (var p in s.EnumerateObject())
        {
            if (p.Value.ValueKind != JsonValueKind.Number || !p.Value.TryGetDouble(out var value))
            {
                throw invalid($"{o}.split.{RegistryNames.Shorten(p.Name)} must be a number");
            }

            split = p.Name switch
            {
                "validation" when value is >= 0 and <= 0.5 => split with { Validation = value },
                "test" when value is >= 0.05 and <= 0.5 => split with { Test = value },
                "seed" when value == Math.Floor(value) && value is >= 0 and <= int.MaxValue => split with { Seed = (int)value },
                "validation" or "test" or "seed" =>
                    throw invalid($"{o}.split: validation is 0 to 0.5, test 0.05 to 0.5, seed a whole number; {p.Name} is {value.ToString(CultureInfo.InvariantCulture)}"),
                _ => throw invalid($"{o}.split takes validation, test and seed, not '{RegistryNames.Shorten(p.Name)}'"),
            };
        }

        return split;
    }
}
