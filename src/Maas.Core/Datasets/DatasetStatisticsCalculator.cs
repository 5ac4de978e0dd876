using System.Globalization;

namespace Maas.Core.Datasets;

/// <summary>Computes <see cref="ColumnStatistics"/> for every column of a table.</summary>
public static class DatasetStatisticsCalculator
{
    /// <summary>Distinct values are counted up to this many per column.</summary>
    public const int MaxDistinct = 100_000;

    /// <summary>Class balance is reported for columns with at most this many distinct values.</summary>
    public const int MaxClasses = 100;

    /// <summary>
    /// Class balance is reported only when every value is at most this long: a column of a few long texts is not a
    /// label, and its texts would otherwise be copied into every read of the version's statistics.
    /// </summary>
    public const int MaxClassNameChars = 1024;

    /// <summary>The statistics of each column of <paramref name="table"/>.</summary>
    public static IReadOnlyList<ColumnStatistics> Compute(DatasetTable table)
    {
        var result = new List<ColumnStatistics>(table.Columns.Count);
        for (var c = 0; c < table.Columns.Count; c++)
        {
            var column = table.Columns[c];
            long count = 0, missing = 0;
            double min = double.PositiveInfinity, max = double.NegativeInfinity, sum = 0;
            long elements = 0;
            var distinct = column.Type == DatasetColumnType.Image ? null : new Dictionary<string, long>(StringComparer.Ordinal);
            var capped = false;
            foreach (var row in table.Rows)
            {
                var value = row[c];
                if (value is null)
                {
                    missing++;
                    continue;
                }

                count++;
                switch (value)
                {
                    case double d:
                        min = Math.Min(min, d);
                        max = Math.Max(max, d);
                        sum += d;
                        elements++;
                        break;
                    case byte[] pixels:
                        foreach (var p in pixels)
                        {
                            min = Math.Min(min, p);
                            max = Math.Max(max, p);
                            sum += p;
                        }

                        elements += pixels.Length;
                        break;
                }

                if (distinct is not null)
                {
                    var key = Key(value);
                    if (distinct.TryGetValue(key, out var n))
                    {
                        distinct[key] = n + 1;
                    }
                    else if (distinct.Count < MaxDistinct)
                    {
                        distinct[key] = 1;
                    }
                    else
                    {
                        capped = true;
                    }
                }
            }

            var numeric = column.Type is DatasetColumnType.Number or DatasetColumnType.Image && elements > 0;
            result.Add(new ColumnStatistics
            {
                Name = column.Name,
                Count = count,
                Missing = missing,
                Distinct = distinct?.Count,
                DistinctCapped = capped ? true : null,
                Min = numeric ? min : null,
                Max = numeric ? max : null,
                Mean = numeric ? sum / elements : null,
                ClassBalance = distinct is { Count: > 0 and <= MaxClasses } && !capped && distinct.Keys.All(k => k.Length <= MaxClassNameChars)
                    ? distinct.OrderBy(kv => kv.Key, ClassOrder(column.Type)).ToDictionary(kv => kv.Key, kv => kv.Value, StringComparer.Ordinal)
                    : null,
            });
        }

        return result;
    }

    /// <summary>The text form of a cell, as class names and distinct counts use it.</summary>
    public static string Key(object value) => value switch
    {
        double d => d.ToString("R", CultureInfo.InvariantCulture),
        bool b => b ? "true" : "false",
        _ => value.ToString() ?? "",
    };

    /// <summary>Numbers sort as numbers, everything else ordinally.</summary>
    public static IComparer<string> ClassOrder(DatasetColumnType type) => type == DatasetColumnType.Number
        ? Comparer<string>.Create((a, b) => double.Parse(a, CultureInfo.InvariantCulture).CompareTo(double.Parse(b, CultureInfo.InvariantCulture)))
        : StringComparer.Ordinal;
}
