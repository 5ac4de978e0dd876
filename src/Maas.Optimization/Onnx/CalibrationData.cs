using System.Globalization;
using System.Text.Json;
using Maas.Core.Datasets;
using Maas.Core.Registry;

namespace Maas.Optimization.Onnx;

/// <summary>
/// Calibration rows from a dataset version: for a model with one float input, each row's number columns (all of
/// them in file order, or the ones named) become one input of batch 1, as many values as the input takes per item;
/// for an image model (rank 4, 1 or 3 channels) and a dataset with an image column, each row's picture does, through
/// <see cref="CalibrationImages"/>.
/// </summary>
public static class CalibrationData
{
    /// <summary>The most rows a calibration may read.</summary>
    public const int MaxRows = 10_000;

    /// <summary>
    /// <paramref name="spec"/> with its calibration resolved against <paramref name="version"/> (the dataset version the
    /// reference named) and the <paramref name="source"/> model: the number columns, or the image column and the
    /// preprocessing; or throws <see cref="OptimizationRequestException"/> saying what does not fit.
    /// </summary>
    public static OptimizationSpec Resolve(OptimizationSpec spec, DatasetVersion version, ModelVersion source)
    {
        var reference = new Maas.Core.Training.DatasetReference(version.Dataset, version.Version, version.Sha256);
        var label = $"{version.Dataset}:{version.Version.ToString(CultureInfo.InvariantCulture)}";
        var images = version.Schema.Where(c => c.Type == DatasetColumnType.Image).Select(c => c.Name).ToArray();
        var inputs = source.Signature.Inputs ?? [];
        var layout = inputs.Count == 1 ? ImageInputLayout.Of(inputs[0]) : null;
        var requested = spec.CalibrationColumns;
        var namesImage = requested is { Count: 1 } && images.Contains(requested[0], StringComparer.Ordinal);
        if (layout is null || images.Length == 0 || (requested is not null && !namesImage))
        {
            if (namesImage)
            {
                throw new OptimizationRequestException("invalid_calibration", $"'{RegistryNames.Shorten(requested![0])}' is an image column of {label}, but the model's input " +
                    $"is not an image (an FP32 input [batch, channels, height, width] or [batch, height, width, channels] of 1 or 3 channels)");
            }

            if (spec.PreprocessOption is not null || spec.ChannelOrder is not null)
            {
                throw new OptimizationRequestException("invalid_options",
                    $"options.preprocess and options.channel_order apply to calibration on pictures; {label} is read as rows of number columns for this model");
            }

            return spec with { Calibration = reference, CalibrationColumns = Columns(version, requested, InputShape(source)) };
        }

        if (images.Length > 1 && requested is null)
        {
            throw new OptimizationRequestException("invalid_calibration",
                $"{label} has {images.Length} image columns; name the one to read with options.columns ({string.Join(", ", images)})");
        }

        var column = requested?[0] ?? images[0];
        var shape = version.Schema.First(c => c.Name == column).Shape ?? [];
        if (shape.Count is not (2 or 3) || (shape.Count == 3 && shape[2] is not (1 or 3)))
        {
            throw new OptimizationRequestException("invalid_calibration",
                $"image column '{column}' of {label} has shape [{string.Join(", ", shape)}]; calibration reads grey [height, width] or colour [height, width, 3] pictures");
        }

        JsonElement? given = spec.PreprocessOption is { } json ? JsonDocument.Parse(json).RootElement.Clone() : null;
        var preprocessing = ImagePreprocessing.Resolve(given, spec.ChannelOrder, source, layout.Channels);
        return spec with { Calibration = reference, CalibrationColumns = [column], CalibrationImageColumn = column, Preprocessing = preprocessing };
    }

    /// <summary>The one input's shape at batch 1, or throws <see cref="OptimizationRequestException"/> saying why the model cannot be calibrated from rows.</summary>
    public static long[] InputShape(ModelVersion source)
    {
        var inputs = source.Signature.Inputs ?? [];
        if (inputs.Count != 1 || inputs[0].Datatype != "FP32")
        {
            throw new OptimizationRequestException("invalid_calibration", $"calibration feeds dataset rows to a model with one FP32 input; version {source.Version} of " +
                $"'{source.Model}' has {string.Join(", ", inputs.Select(i => $"{i.Name} ({i.Datatype})").DefaultIfEmpty("none"))}");
        }

        var shape = inputs[0].Shape;
        if (shape.Count == 0 || shape.Skip(1).Any(d => d <= 0) || shape[0] is not (-1 or 1))
        {
            throw new OptimizationRequestException("invalid_calibration", $"calibration needs an input of a batch dimension then fixed dimensions; '{inputs[0].Name}' is " +
                $"[{string.Join(", ", shape.Select(d => d < 0 ? "?" : d.ToString(CultureInfo.InvariantCulture)))}]");
        }

        return [1, .. shape.Skip(1)];
    }

    /// <summary>The columns a row of <paramref name="version"/> is read from, checked against the values per input; or throws <see cref="OptimizationRequestException"/>.</summary>
    public static IReadOnlyList<string> Columns(DatasetVersion version, IReadOnlyList<string>? requested, long[] inputShape)
    {
        var perRow = inputShape.Aggregate(1L, (a, d) => a * d);
        var label = $"{version.Dataset}:{version.Version.ToString(CultureInfo.InvariantCulture)}";
        var numbers = version.Schema.Where(c => c.Type == DatasetColumnType.Number).Select(c => c.Name).ToArray();
        var columns = requested ?? numbers;
        foreach (var name in columns)
        {
            if (!numbers.Contains(name, StringComparer.Ordinal))
            {
                throw new OptimizationRequestException("invalid_calibration",
                    $"'{RegistryNames.Shorten(name)}' is not a number column of {label} (its number columns: {RegistryNames.FirstOf(numbers)})");
            }
        }

        if (columns.Count != perRow)
        {
            throw new OptimizationRequestException("invalid_calibration", $"the model's input takes {perRow} values per row; {label} gives {columns.Count} number " +
                $"column{(columns.Count == 1 ? "" : "s")}{(requested is null ? " (name them with options.columns)" : "")}");
        }

        if (columns.Distinct(StringComparer.Ordinal).Count() != columns.Count)
        {
            throw new OptimizationRequestException("invalid_calibration", "options.columns names a column twice");
        }

        return columns;
    }

    /// <summary>Up to <paramref name="maxRows"/> rows of <paramref name="columns"/> as floats; rows with a missing value are skipped and counted.</summary>
    public static (IReadOnlyList<float[]> Rows, int Skipped) Rows(DatasetTable table, IReadOnlyList<string> columns, int maxRows)
    {
        var indexes = columns.Select(c => table.IndexOf(c) is var i and >= 0 ? i : throw new InvalidDataException($"the dataset has no column '{c}'")).ToArray();
        var rows = new List<float[]>();
        var skipped = 0;
        foreach (var row in table.Rows)
        {
            if (rows.Count == maxRows)
            {
                break;
            }

            var values = new float[indexes.Length];
            var complete = true;
            for (var k = 0; k < indexes.Length && complete; k++)
            {
                complete = row[indexes[k]] is double d && double.IsFinite(d);
                values[k] = complete ? (float)(double)row[indexes[k]]! : 0;
            }

            if (complete)
            {
                rows.Add(values);
            }
            else
            {
                skipped++;
            }
        }

        return (rows, skipped);
    }
}
