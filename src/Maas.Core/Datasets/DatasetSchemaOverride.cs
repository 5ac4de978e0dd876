using System.Globalization;
using Maas.Core.Registry;

namespace Maas.Core.Datasets;

/// <summary>
/// Column types chosen by the uploader where inference guessed wrong (a zip code read as a number, a 0/1 flag that is a
/// category). Applied when a version is uploaded; the stored schema then keeps the chosen types for every later read.
/// </summary>
public static class DatasetSchemaOverride
{
    /// <summary>Parses "zip:string,flag:boolean" into column types; throws <see cref="FormatException"/> naming the bad part.</summary>
    public static IReadOnlyDictionary<string, DatasetColumnType> Parse(string text)
    {
        var types = new Dictionary<string, DatasetColumnType>(StringComparer.Ordinal);
        foreach (var part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var colon = part.LastIndexOf(':');
            if (colon <= 0 || colon == part.Length - 1)
            {
                throw new FormatException($"'{Shorten(part)}' is not COLUMN:TYPE (types: number, string, boolean)");
            }

            var name = part[..colon].Trim();
            DatasetColumnType type = part[(colon + 1)..].Trim().ToLowerInvariant() switch
            {
                "number" => DatasetColumnType.Number,
                "string" => DatasetColumnType.String,
                "boolean" or "bool" => DatasetColumnType.Boolean,
                var other => throw new FormatException($"'{Shorten(other)}' is not a column type (number, string, boolean)"),
            };
            if (!types.TryAdd(name, type))
            {
                throw new FormatException($"column '{Shorten(name)}' is given a type twice");
            }
        }

        return types.Count == 0 ? throw new FormatException("the schema names no columns (COLUMN:TYPE,...)") : types;
    }

    /// <summary>
    /// A table whose named columns hold <paramref name="types"/>; a value that does not convert is a
    /// <see cref="DatasetFormatException"/> naming its row and column.
    /// </summary>
    public static DatasetTable Apply(DatasetTable table, IReadOnlyDictionary<string, DatasetColumnType> types)
    {
        var columns = table.Columns.ToArray();
        var changed = new List<int>();
        foreach (var (name, type) in types)
        {
            var index = table.IndexOf(name);
            if (index < 0)
            {
                throw new DatasetFormatException(
                    $"the schema names column '{Shorten(name)}', which the file does not have (it has {RegistryNames.FirstOf(table.Columns.Select(c => c.Name))})");
            }

            if (columns[index].Type == DatasetColumnType.Image || type == DatasetColumnType.Image)
            {
                throw new DatasetFormatException($"column '{name}' holds pictures; its type cannot be changed");
            }

            if (columns[index].Type != type)
            {
                columns[index] = columns[index] with { Type = type };
                changed.Add(index);
            }
        }

        if (changed.Count == 0)
        {
            return table;
        }

        var rows = new List<object?[]>(table.Rows.Count);
        for (var r = 0; r < table.Rows.Count; r++)
        {
            var row = (object?[])table.Rows[r].Clone();
            foreach (var c in changed)
            {
                row[c] = Convert(row[c], columns[c].Type, r, columns[c].Name);
            }

            rows.Add(row);
        }

        return new DatasetTable(columns, rows) { DetectedFormat = table.DetectedFormat };
    }

    /// <summary>The types of <paramref name="stored"/> that differ from what reading the file infers, so a reload keeps them.</summary>
    public static IReadOnlyDictionary<string, DatasetColumnType> Differences(IReadOnlyList<DatasetColumn> stored, DatasetTable inferred)
    {
        var types = new Dictionary<string, DatasetColumnType>(StringComparer.Ordinal);
        foreach (var column in stored)
        {
            var index = inferred.IndexOf(column.Name);
            if (index >= 0 && inferred.Columns[index].Type != column.Type && column.Type != DatasetColumnType.Image)
            {
                types[column.Name] = column.Type;
            }
        }

        return types;
    }

    private static object? Convert(object? value, DatasetColumnType type, int row, string column)
    {
        if (value is null)
        {
            return null;
        }

        switch (type)
        {
            case DatasetColumnType.String:
                return value switch
                {
                    double d => d.ToString("R", CultureInfo.InvariantCulture),
                    bool b => b ? "true" : "false",
                    _ => value.ToString(),
                };
            case DatasetColumnType.Number:
                return value switch
                {
                    double d => d,
                    bool b => b ? 1.0 : 0.0,
                    string s when DatasetParser.IsMissing(s) => null,
                    string s when double.TryParse(s.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out var d) && double.IsFinite(d) => d,
                    _ => throw Bad(value, "a number", row, column),
                };
            default:
                return value switch
                {
                    bool b => b,
                    double d when d is 0 or 1 => d == 1,
                    string s when DatasetParser.IsMissing(s) => null,
                    string s when bool.TryParse(s.Trim(), out var b) => b,
                    string s when s.Trim() is "0" or "1" => s.Trim() == "1",
                    _ => throw Bad(value, "a boolean (true/false or 0/1)", row, column),
                };
        }
    }

    private static DatasetFormatException Bad(object value, string what, int row, string column) =>
        new($"row {row + 1}, column '{column}': '{Shorten(value.ToString())}' is not {what}");

    private static string Shorten(string? text) => text is null ? "" : text.Length > 40 ? text[..40] + "..." : text;
}
