namespace Maas.Core.Datasets;

/// <summary>The type of a dataset column, inferred from its values.</summary>
public enum DatasetColumnType
{
    /// <summary>Numbers (stored as doubles; integers stay exact up to 2^53).</summary>
    Number,

    /// <summary>Text: categories or free text.</summary>
    String,

    /// <summary>true / false.</summary>
    Boolean,

    /// <summary>A fixed-shape grid of bytes (an IDX image), one per row.</summary>
    Image,
}

/// <summary>One column of a dataset: its name, type and, for images, the shape of each value.</summary>
public sealed record DatasetColumn(string Name, DatasetColumnType Type, IReadOnlyList<int>? Shape = null);

/// <summary>
/// A parsed dataset held in memory: columns and rows. A cell is a <see cref="double"/> (number), <see cref="string"/>,
/// <see cref="bool"/>, a <see cref="byte"/> array (image) or null when missing.
/// </summary>
public sealed class DatasetTable(IReadOnlyList<DatasetColumn> columns, IReadOnlyList<object?[]> rows)
{
    /// <summary>The columns in file order.</summary>
    public IReadOnlyList<DatasetColumn> Columns { get; } = columns;

    /// <summary>The rows; each has one cell per column.</summary>
    public IReadOnlyList<object?[]> Rows { get; } = rows;

    /// <summary>The format found inside the file where its name does not say (an archive of IDX files or of pictures).</summary>
    public DatasetFormat? DetectedFormat { get; init; }

    /// <summary>The index of a column by name, or -1.</summary>
    public int IndexOf(string name)
    {
        for (var i = 0; i < Columns.Count; i++)
        {
            if (string.Equals(Columns[i].Name, name, StringComparison.Ordinal))
            {
                return i;
            }
        }

        return -1;
    }
}

/// <summary>A file that cannot be read as the format its name says; the message names the line or record.</summary>
public sealed class DatasetFormatException(string message, IReadOnlyDictionary<string, object?>? details = null) : Exception(message)
{
    /// <summary>What the error body carries besides the message (a limit's setting and value, the line and row); null for none.</summary>
    public IReadOnlyDictionary<string, object?>? Details { get; } = details;
}
