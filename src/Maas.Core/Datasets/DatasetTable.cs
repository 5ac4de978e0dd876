namespace Maas.Core.Datasets;

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
