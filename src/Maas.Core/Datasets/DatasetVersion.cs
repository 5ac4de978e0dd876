namespace Maas.Core.Datasets;

/// <summary>One uploaded file of a dataset: stored content-addressed, with its schema and statistics.</summary>
public sealed record DatasetVersion
{
    /// <summary>The dataset's name.</summary>
    public required string Dataset { get; init; }

    /// <summary>The version number (1, 2, ...).</summary>
    public int Version { get; init; }

    /// <summary>The file format.</summary>
    public DatasetFormat Format { get; init; }

    /// <summary>True when the stored file is gzip-compressed as a whole.</summary>
    public bool Gzip { get; init; }

    /// <summary>The uploaded file's name.</summary>
    public string FileName { get; init; } = "";

    /// <summary>The SHA-256 of the uploaded bytes, which is also the artifact key.</summary>
    public string Sha256 { get; init; } = "";

    /// <summary>The uploaded size.</summary>
    public long SizeBytes { get; init; }

    /// <summary>The number of rows (records).</summary>
    public long Rows { get; init; }

    /// <summary>The columns with their inferred types.</summary>
    public IReadOnlyList<DatasetColumn> Schema { get; init; } = [];

    /// <summary>Per-column statistics.</summary>
    public IReadOnlyList<ColumnStatistics> Statistics { get; init; } = [];

    /// <summary>Who uploaded it.</summary>
    public string CreatedBy { get; init; } = "";

    /// <summary>When it was uploaded.</summary>
    public DateTimeOffset CreatedAt { get; init; }
}
