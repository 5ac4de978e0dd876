namespace Maas.Core.Datasets;

/// <summary>Bounds and choices for reading one dataset file; the defaults suit tests and small tools.</summary>
public sealed record DatasetReadOptions
{
    /// <summary>The most bytes a compressed file or an archive may expand to (decoded pictures included).</summary>
    public long MaxDecompressedBytes { get; init; } = 1L << 30;

    /// <summary>The most entries an archive may hold.</summary>
    public int MaxArchiveEntries { get; init; } = 200_000;

    /// <summary>The most columns a table may have (CSV, TSV, JSON Lines keys, Parquet fields).</summary>
    public int MaxColumns { get; init; } = DatasetOptions.DefaultMaxColumns;

    /// <summary>The most bytes (as UTF-8) of one CSV or TSV field, of one JSON Lines key or value, or of one Parquet column name or text cell.</summary>
    public int MaxFieldBytes { get; init; } = DatasetOptions.DefaultMaxFieldBytes;

    /// <summary>
    /// The most bytes (as UTF-8, line end excluded) of one CSV, TSV or JSON Lines row, or of the text cells of one Parquet
    /// row together (or its column names together); reading stops there.
    /// </summary>
    public int MaxRowBytes { get; init; } = DatasetOptions.DefaultMaxRowBytes;

    /// <summary>
    /// Whether column names (JSON Lines keys, Parquet fields) lose surrounding white space as a CSV header's do; false only
    /// to read back a version stored before they did, under the names it was stored with.
    /// </summary>
    public bool TrimColumnNames { get; init; } = true;

    /// <summary>The size every picture of an image-folder archive is resized to; null keeps the pictures' own size, which must then be the same for all.</summary>
    public DatasetImageSize? ImageSize { get; init; }
}

/// <summary>The width and height pictures are resized to.</summary>
public sealed record DatasetImageSize(int Width, int Height)
{
    /// <summary>The largest side accepted.</summary>
    public const int MaxSide = 4096;

    /// <summary>Parses "64x48" (width x height) or "64" (square); throws <see cref="FormatException"/> with the rule when it is not one.</summary>
    public static DatasetImageSize Parse(string text)
    {
        var parts = text.Split('x', 'X');
        if (parts.Length is 1 or 2
            && int.TryParse(parts[0], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var width)
            && int.TryParse(parts[^1], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var height)
            && width is >= 1 and <= MaxSide && height is >= 1 and <= MaxSide)
        {
            return new DatasetImageSize(width, height);
        }

        throw new FormatException($"'{(text.Length > 20 ? text[..20] + "..." : text)}' is not a picture size: use WIDTHxHEIGHT or one number for a square, each from 1 to {MaxSide}");
    }

    /// <inheritdoc />
    public override string ToString() => $"{Width}x{Height}";
}

/// <summary>A file that expands beyond <see cref="DatasetReadOptions.MaxDecompressedBytes"/> or holds too many entries.</summary>
public sealed class DatasetTooLargeException(string message, long limit) : Exception(message)
{
    /// <summary>The limit that was reached.</summary>
    public long Limit { get; } = limit;
}
