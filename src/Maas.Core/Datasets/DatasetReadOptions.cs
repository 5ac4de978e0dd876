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
