using System.Globalization;
using System.Text.Json;
using Maas.Core.Formats;
using Maas.Core.Registry;
using Maas.Optimization.Gguf;

namespace Maas.Optimization;

/// <summary>Checks the body of <c>:optimize</c> against the source version and builds the job's spec.</summary>
public static class OptimizationRequestParser
{
    /// <summary>The most sample inputs an ONNX job compares.</summary>
    public const int MaxSamples = 256;

    /// <summary>The largest batch throughput is measured at.</summary>
    public const int MaxThroughputBatch = 1024;

    /// <summary>Builds the spec of <paramref name="method"/> on <paramref name="source"/>, or throws <see cref="OptimizationRequestException"/>.</summary>
    public static OptimizationSpec Parse(ModelVersion source, string? method, JsonElement? options, JsonElement? gate, string? alias, string createdBy)
    {
        var m = Method(source, method);
        var given = Object(options, "options", "invalid_options");
        foreach (var key in given.Keys.Where(k => !m.Options.Contains(k)))
        {
            throw new OptimizationRequestException("invalid_options",
                $"{method} takes {(m.Options.Count == 0 ? "no options" : string.Join(", ", m.Options))}, not '{RegistryNames.Shorten(key)}'");
        }

        var spec = new OptimizationSpec
        {
            Model = source.Model,
            Version = source.Version,
            SourceSha256 = source.Sha256,
            Method = method!,
            CreatedBy = createdBy,
            Gate = ParseGate(m.Format, gate),
            Alias = alias,
        };
        if (alias is not null)
        {
            RegistryNames.ValidateName(alias, "alias");
        }

        spec = method switch
        {
            OptimizationMethods.GgufQuantize => GgufQuantize(spec, given),
            OptimizationMethods.OnnxOptimize => OnnxOptimize(spec, given),
            OptimizationMethods.PruneMagnitude => spec with { Sparsity = Share(given, "sparsity", "the share of each weight tensor set to zero") },
            OptimizationMethods.OnnxInt4 => OnnxInt4(spec, given),
            OptimizationMethods.OnnxInt8Static => Calibration(spec, given),
            OptimizationMethods.PruneStructured => spec with { Ratio = Share(given, "ratio", "the share of each dense layer's hidden units removed") },
            _ => spec,
        };
        if (method == OptimizationMethods.GgufQuantize)
        {
            return spec; // no ONNX comparison options
        }

        if (method is OptimizationMethods.OnnxInt8Dynamic or OptimizationMethods.OnnxInt8Static)
        {
            spec = WeightType(spec, given);
        }

        return Measurement(FineTuneOrEvaluation(spec, given), given, m.Format);
    }

    // The method named, available and applicable to the source's format.
    private static OptimizationMethod Method(ModelVersion source, string? method)
    {
        var working = string.Join(", ", OptimizationMethods.Available.Keys);
        if (string.IsNullOrEmpty(method))
        {
            throw new OptimizationRequestException("invalid_method", $"method is required: one of {working}");
        }

        if (!OptimizationMethods.Available.TryGetValue(method, out var m))
        {
            throw OptimizationMethods.Planned.Contains(method)
                ? new OptimizationRequestException("unsupported_method", $"method '{method}' is not available yet; the methods that work are {working}")
                : new OptimizationRequestException("invalid_method", $"method must be one of {working}, not '{RegistryNames.Shorten(method)}'");
        }

        if (source.Format != m.Format)
        {
            throw new OptimizationRequestException("method_not_applicable",
                $"{method} works on {Name(m.Format)} models; version {source.Version} of '{source.Model}' is {Name(source.Format)}");
        }

        return m;
    }

    private static OptimizationSpec GgufQuantize(OptimizationSpec spec, Dictionary<string, JsonElement> given)
    {
        var type = String(given, "type") ??
            throw new OptimizationRequestException("invalid_options", $"options.type is required: one of {string.Join(", ", GgufQuantTypes.ByName.Keys)}");
        if (!GgufQuantTypes.ByName.ContainsKey(type))
        {
            throw new OptimizationRequestException("invalid_options",
                $"options.type must be one of {string.Join(", ", GgufQuantTypes.ByName.Keys)}, not '{RegistryNames.Shorten(type)}'");
        }

        var imatrix = String(given, "imatrix");
        var column = String(given, "imatrix_column");
        if (imatrix is not null and not BuiltInText)
        {
            DatasetReference(imatrix, "imatrix");
        }
        else if (column is not null)
        {
            throw new OptimizationRequestException("invalid_options", "options.imatrix_column names a column of the dataset in options.imatrix");
        }

        return spec with { Type = type, ImatrixReference = imatrix, ImatrixColumn = column };
    }

    private static OptimizationSpec OnnxOptimize(OptimizationSpec spec, Dictionary<string, JsonElement> given)
    {
        var level = String(given, "level") ?? "extended";
        var machineSpecific = Bool(given, "machine_specific") ?? false;
        if (level is not ("basic" or "extended" or "all"))
        {
            throw new OptimizationRequestException("invalid_options", $"options.level must be basic, extended or all, not '{RegistryNames.Shorten(level)}'");
        }

        // Level all lays convolutions out in blocks of this CPU's vector width (NCHWc): the file may not load, or
        // may compute wrongly, on another machine, so it is made only when asked for by name.
        if (level == "all" && !machineSpecific)
        {
            throw new OptimizationRequestException("invalid_options", "options.level all saves layout optimisations (NCHWc operators) for this machine's CPU, which tie the file " +
                "to machines like it; set options.machine_specific to true to accept that, or use basic or extended");
        }

        return spec with { Level = level, MachineSpecific = machineSpecific };
    }

    private static OptimizationSpec OnnxInt4(OptimizationSpec spec, Dictionary<string, JsonElement> given)
    {
        var block = Number(given, "block_size", "16, 32, 64, 128 or 256") ?? Onnx.OnnxInt4Quantizer.DefaultBlockSize;
        if (block is not (16 or 32 or 64 or 128 or 256))
        {
            throw new OptimizationRequestException("invalid_options", $"options.block_size must be 16, 32, 64, 128 or 256, not {block.ToString(CultureInfo.InvariantCulture)}");
        }

        return spec with { BlockSize = (int)block };
    }

    // A required share above 0 and below 1 (a pruning's sparsity or ratio).
    private static double Share(Dictionary<string, JsonElement> given, string name, string what)
    {
        var share = Number(given, name, "a number above 0 and below 1") ??
            throw new OptimizationRequestException("invalid_options", $"options.{name} ({what}, above 0 and below 1) is required");
        if (share is <= 0 or >= 1)
        {
            throw new OptimizationRequestException("invalid_options", $"options.{name} must be above 0 and below 1, not {share.ToString(CultureInfo.InvariantCulture)}");
        }

        return share;
    }

    private static OptimizationSpec WeightType(OptimizationSpec spec, Dictionary<string, JsonElement> given)
    {
        // uint8 weights are exact on every CPU; int8 ones are faster where VNNI or a GPU multiplies them, and are kept
        // to 7 bits unless reduce_range is false (Onnx.Int8WeightEncoding says why).
        var weightType = String(given, "weight_type") ?? "uint8";
        if (weightType is not ("uint8" or "int8"))
        {
            throw new OptimizationRequestException("invalid_options", $"options.weight_type must be uint8 or int8, not '{RegistryNames.Shorten(weightType)}'");
        }

        var reduceRange = Bool(given, "reduce_range");
        if (reduceRange is not null && weightType != "int8")
        {
            throw new OptimizationRequestException("invalid_options", "options.reduce_range applies to options.weight_type int8 (uint8 weights use all 8 bits on every CPU)");
        }

        return spec with { WeightType = weightType, ReduceRange = reduceRange ?? true };
    }

    private static OptimizationSpec FineTuneOrEvaluation(OptimizationSpec spec, Dictionary<string, JsonElement> given)
    {
        if (given.TryGetValue("fine_tune", out var fineTune) && fineTune.ValueKind != JsonValueKind.Null)
        {
            spec = spec with { FineTune = FineTuning.FineTuneSpec.Parse(fineTune) };
        }

        if (given.TryGetValue("evaluation", out var evaluation) && evaluation.ValueKind != JsonValueKind.Null)
        {
            if (spec.FineTune is not null)
            {
                throw new OptimizationRequestException("invalid_options",
                    "options.evaluation and options.fine_tune do not go together: a fine-tune measures accuracy on its own dataset's test split");
            }

            spec = spec with { Evaluation = FineTuning.FineTuneSpec.Parse(evaluation, FineTuning.FineTuneSpec.EvaluationOption) };
        }

        return spec;
    }

    // How the rewrite is compared with its source: the throughput batch (ONNX), the samples and their seed.
    private static OptimizationSpec Measurement(OptimizationSpec spec, Dictionary<string, JsonElement> given, ModelFormat format)
    {
        if (format == ModelFormat.Onnx)
        {
            var throughputBatch = Number(given, "throughput_batch", $"a whole number from 1 to {MaxThroughputBatch}") ?? 16;
            if (throughputBatch != Math.Floor(throughputBatch) || throughputBatch is < 1 or > MaxThroughputBatch)
            {
                throw new OptimizationRequestException("invalid_options",
                    $"options.throughput_batch must be a whole number from 1 to {MaxThroughputBatch}, not {throughputBatch.ToString(CultureInfo.InvariantCulture)}");
            }

            spec = spec with { ThroughputBatch = (int)throughputBatch };
        }

        var samples = Number(given, "samples", $"a whole number from 1 to {MaxSamples}") ?? (spec.Method == OptimizationMethods.OnnxInt8Static ? 64 : 8);
        if (samples != Math.Floor(samples) || samples is < 1 or > MaxSamples)
        {
            throw new OptimizationRequestException("invalid_options",
                $"options.samples must be a whole number from 1 to {MaxSamples}, not {samples.ToString(CultureInfo.InvariantCulture)}");
        }

        var seed = Number(given, "seed", $"a whole number from 0 to {int.MaxValue}") ?? 1234;
        if (seed != Math.Floor(seed) || seed is < 0 or > int.MaxValue)
        {
            throw new OptimizationRequestException("invalid_options",
                $"options.seed must be a whole number from 0 to {int.MaxValue}, not {seed.ToString(CultureInfo.InvariantCulture)}");
        }

        return spec with { Samples = (int)samples, Seed = (int)seed };
    }

    /// <summary>options.imatrix naming the built-in passage rather than a dataset.</summary>
    public const string BuiltInText = "builtin";

    /// <summary>The dataset name and version (null: the newest) of a reference "name" or "name:version" given as options.<paramref name="option"/>.</summary>
    public static (string Name, int? Version) DatasetReference(string reference, string option = "calibration")
    {
        var colon = reference.LastIndexOf(':');
        if (colon < 0)
        {
            return (reference, null);
        }

        return int.TryParse(reference.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n > 0 && colon > 0
            ? (reference[..colon], n)
            : throw new OptimizationRequestException(option switch
            {
                "fine_tune.dataset" => "invalid_fine_tune",
                "evaluation.dataset" => "invalid_evaluation",
                _ =>
                "invalid_calibration"
            }, $"options.{option} must be {(option == "imatrix" ? $"'{BuiltInText}', " : "")}'name' or 'name:version' of a dataset, not " +
                    $"'{RegistryNames.Shorten(reference)}'");
    }

    // onnx-int8-static's options; the dataset itself is resolved by the caller (it needs the dataset catalogue and the caller's rights).
    private static OptimizationSpec Calibration(OptimizationSpec spec, Dictionary<string, JsonElement> given)
    {
        var reference = String(given, "calibration") ??
            throw new OptimizationRequestException("invalid_options", "options.calibration (a dataset version to calibrate on: 'name' or 'name:version') is required");
        DatasetReference(reference);
        var calibrationMethod = String(given, "calibration_method") ?? "minmax";
        if (calibrationMethod is not ("minmax" or "percentile"))
        {
            throw new OptimizationRequestException("invalid_options", $"options.calibration_method must be minmax or percentile, not '{RegistryNames.Shorten(calibrationMethod)}'");
        }

        var percentile = Number(given, "percentile", "a number above 50 and at most 100");
        if (percentile is not null && (calibrationMethod != "percentile" || percentile is <= 50 or > 100))
        {
            throw new OptimizationRequestException("invalid_options", calibrationMethod != "percentile"
                ? "options.percentile applies to calibration_method percentile only"
                : $"options.percentile must be above 50 and at most 100, not {percentile.Value.ToString(CultureInfo.InvariantCulture)}");
        }

        var rows = Number(given, "rows", $"a whole number from 1 to {Onnx.CalibrationData.MaxRows}") ?? 256;
        if (rows != Math.Floor(rows) || rows is < 1 or > Onnx.CalibrationData.MaxRows)
        {
            throw new OptimizationRequestException("invalid_options",
                $"options.rows must be a whole number from 1 to {Onnx.CalibrationData.MaxRows}, not {rows.ToString(CultureInfo.InvariantCulture)}");
        }

        string[]? columns = null;
        if (given.TryGetValue("columns", out var c) && c.ValueKind != JsonValueKind.Null)
        {
            if (c.ValueKind != JsonValueKind.Array || c.EnumerateArray().Any(e => e.ValueKind != JsonValueKind.String) || c.GetArrayLength() == 0)
            {
                throw new OptimizationRequestException("invalid_options", "options.columns must be a non-empty array of column names");
            }

            columns = c.EnumerateArray().Select(e => e.GetString()!).ToArray();
        }

        // The preprocessing is checked against the model's channels once the dataset is known to hold pictures.
        string? preprocess = null;
        if (given.TryGetValue("preprocess", out var p) && p.ValueKind != JsonValueKind.Null)
        {
            if (p.ValueKind is not (JsonValueKind.String or JsonValueKind.Object))
            {
                throw new OptimizationRequestException("invalid_options",
                    $"options.preprocess must be a preset name ({string.Join(", ", Onnx.ImagePreprocessing.Presets.Keys)}) or an object {{\"mean\": [...], \"std\": [...]}}");
            }

            preprocess = p.GetRawText();
        }

        var channelOrder = String(given, "channel_order");
        if (channelOrder is not (null or "rgb" or "bgr"))
        {
            throw new OptimizationRequestException("invalid_options", $"options.channel_order must be rgb or bgr, not '{RegistryNames.Shorten(channelOrder)}'");
        }

        return spec with
        {
            PreprocessOption = preprocess,
            ChannelOrder = channelOrder,
            CalibrationReference = reference,
            CalibrationMethod = calibrationMethod,
            Percentile = calibrationMethod == "percentile" ? percentile ?? 99.99 : null,
            CalibrationRows = (int)rows,
            CalibrationColumns = columns,
        };
    }

    private static Dictionary<string, double>? ParseGate(ModelFormat format, JsonElement? gate)
    {
        if (gate is null || gate.Value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        var known = OptimizationGate.Checks(format);
        var result = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var (key, value) in Object(gate, "gate", "invalid_gate"))
        {
            if (!known.ContainsKey(key))
            {
                throw new OptimizationRequestException("invalid_gate",
                    $"a gate for {Name(format)} models takes {string.Join(", ", known.Keys)}, not '{RegistryNames.Shorten(key)}'");
            }

            if (value.ValueKind != JsonValueKind.Number || !value.TryGetDouble(out var threshold) || !double.IsFinite(threshold) || threshold < 0)
            {
                throw new OptimizationRequestException("invalid_gate", $"gate.{key} must be a number of 0 or more");
            }

            result[key] = threshold;
        }

        return result;
    }

    private static Dictionary<string, JsonElement> Object(JsonElement? element, string field, string code)
    {
        if (element is null || element.Value.ValueKind == JsonValueKind.Null)
        {
            return [];
        }

        if (element.Value.ValueKind != JsonValueKind.Object)
        {
            throw new OptimizationRequestException(code, $"{field} must be a JSON object");
        }

        var values = new Dictionary<string, JsonElement>(StringComparer.Ordinal);
        foreach (var property in element.Value.EnumerateObject())
        {
            if (!values.TryAdd(property.Name, property.Value))
            {
                // JSON allows a repeated key, but which of the two was meant is anyone's guess.
                throw new OptimizationRequestException(code, $"{field} gives '{RegistryNames.Shorten(property.Name)}' more than once");
            }
        }

        return values;
    }

    private static string? String(Dictionary<string, JsonElement> options, string key) =>
        !options.TryGetValue(key, out var v) || v.ValueKind == JsonValueKind.Null ? null
        : v.ValueKind == JsonValueKind.String ? v.GetString()
        : throw new OptimizationRequestException("invalid_options", $"options.{key} must be a string");

    private static bool? Bool(Dictionary<string, JsonElement> options, string key) =>
        !options.TryGetValue(key, out var v) || v.ValueKind == JsonValueKind.Null ? null
        : v.ValueKind is JsonValueKind.True or JsonValueKind.False ? v.GetBoolean()
        : throw new OptimizationRequestException("invalid_options", $"options.{key} must be true or false");

    // A number option; anything else (a string, a number beyond a double such as 1e400) is refused naming what it takes.
    private static double? Number(Dictionary<string, JsonElement> options, string key, string expected) =>
        !options.TryGetValue(key, out var v) || v.ValueKind == JsonValueKind.Null ? null
        : v.ValueKind == JsonValueKind.Number && v.TryGetDouble(out var d) && double.IsFinite(d) ? d
        : throw new OptimizationRequestException("invalid_options", $"options.{key} must be {expected}, not {Given(v)}");

    private static string Given(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.Number => RegistryNames.Shorten(value.GetRawText()),
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        JsonValueKind.String => $"a string ('{RegistryNames.Shorten(value.GetString())}')",
        JsonValueKind.Array => "an array",
        _ => "an object",
    };

    private static string Name(ModelFormat format) => format.ToString().ToUpperInvariant();
}
