using System.Globalization;
using Maas.Core.Datasets;
using Maas.Core.Registry;

namespace Maas.Optimization.Onnx;

/// <summary>
/// Calibration rows from a dataset version: for a model with one float input, each row's number columns (all of
/// them in file order, or the ones named) become one input of batch 1, as many values as the input takes per item.
/// </summary>
public static class CalibrationData
{
    /// <summary>The most rows a calibration may read.</summary>
    public const int MaxRows = 10_000;

    /// <summary>The one input's shape at batch 1, or throws <see cref="OptimizationRequestException"/> saying why the model cannot be calibrated from rows.</summary>
    public static long[] InputShape(ModelVersion source)
    {
        var inputs = source.Signature.Inputs ?? [];
        if (inputs.Count != 1 || inputs[0].Datatype != "FP32")
        {
            throw new OptimizationRequestException("invalid_calibration", $"calibration feeds dataset rows to a model with one FP32 input; version {source.Version} of '{source.Model}' has {string.Join(", ", inputs.Select(i => $"{i.Name} ({i.Datatype})").DefaultIfEmpty("none"))}");
        }

        var shape = inputs[0].Shape;
        if (shape.Count == 0 || shape.Skip(1).Any(d => d <= 0) || shape[0] is not (-1 or 1))
        {
            throw new OptimizationRequestException("invalid_calibration", $"calibration needs an input of a batch dimension then fixed dimensions; '{inputs[0].Name}' is [{string.Join(", ", shape.Select(d => d < 0 ? "?" : d.ToString(CultureInfo.InvariantCulture)))}]");
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
                throw new OptimizationRequestException("invalid_calibration", $"'{RegistryNames.Shorten(name)}' is not a number column of {label} (its number columns: {string.Join(", ", numbers.Take(20).DefaultIfEmpty("none"))})");
            }
        }

        if (columns.Count != perRow)
        {
            throw new OptimizationRequestException("invalid_calibration", $"the model's input takes {perRow} values per row; {label} gives {columns.Count} number column{(columns.Count == 1 ? "" : "s")}{(requested is null ? " (name them with options.columns)" : "")}");
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
