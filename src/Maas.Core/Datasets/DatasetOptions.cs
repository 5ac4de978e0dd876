namespace Maas.Core.Datasets;

/// <summary>Dataset limits ("Maas:Datasets" section).</summary>
public sealed class DatasetOptions
{
    /// <summary>The configuration section these options bind from.</summary>
    public const string Section = "Maas:Datasets";

    /// <summary>The largest dataset file accepted, in bytes (default 256 MiB): files are parsed in memory.</summary>
    public long MaxUploadBytes { get; set; } = 256L << 20;

    /// <summary>The most bytes a compressed file or archive may expand to, decoded pictures included (default 1 GiB).</summary>
    public long MaxDecompressedBytes { get; set; } = 1L << 30;

    /// <summary>The most entries an archive may hold (default 200000).</summary>
    public int MaxArchiveEntries { get; set; } = 200_000;

    /// <summary>The default of <see cref="MaxColumns"/>.</summary>
    public const int DefaultMaxColumns = 10_000;

    /// <summary>The most columns an uploaded table may have (default 10000); versions already stored load whatever it is now.</summary>
    public int MaxColumns { get; set; } = DefaultMaxColumns;

    /// <summary>The default of <see cref="MaxFieldBytes"/> (1 MiB).</summary>
    public const int DefaultMaxFieldBytes = 1 << 20;

    /// <summary>The default of <see cref="MaxRowBytes"/> (4 MiB).</summary>
    public const int DefaultMaxRowBytes = 4 << 20;

    /// <summary>The largest allowed value of <see cref="MaxFieldBytes"/> and <see cref="MaxRowBytes"/> (1 GiB).</summary>
    public const int MaxRowBytesCeiling = 1 << 30;

    /// <summary>
    /// The most bytes (of the text as UTF-8) one field of an uploaded CSV or TSV file, one key or value of a JSON Lines
    /// object, or one column name or text cell of a Parquet file may hold (default 1 MiB); versions already stored load
    /// whatever it is now.
    /// </summary>
    public int MaxFieldBytes { get; set; } = DefaultMaxFieldBytes;

    /// <summary>
    /// The most bytes (of the text as UTF-8, line end excluded) one row of an uploaded CSV, TSV or JSON Lines file, or the
    /// text cells of one row of a Parquet file together, may hold (default 4 MiB); versions already stored load whatever
    /// it is now.
    /// </summary>
    public int MaxRowBytes { get; set; } = DefaultMaxRowBytes;

    /// <summary>The most rows a preview returns (default 1000).</summary>
    public int MaxPreviewRows { get; set; } = 1000;

    /// <summary>How long an unfinished resumable upload is kept, in hours (default 24).</summary>
    public double UploadSessionTtlHours { get; set; } = 24;

    /// <summary>The most resumable uploads a tenant may have open at once (default 16).</summary>
    public int MaxUploadSessionsPerTenant { get; set; } = 16;

    /// <summary>
    /// How a table sent now is read (a new dataset version, the rows of a <c>/predict</c> call): held to these limits,
    /// column names trimmed, pictures kept at their own size.
    /// </summary>
    public DatasetReadOptions ReadOptionsForNewTables() => new()
    {
        MaxDecompressedBytes = MaxDecompressedBytes,
        MaxArchiveEntries = MaxArchiveEntries,
        MaxColumns = MaxColumns,
        MaxFieldBytes = MaxFieldBytes,
        MaxRowBytes = MaxRowBytes,
    };

    /// <summary>The problems with these settings, each naming its key.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (MaxUploadBytes < 1024)
        {
            errors.Add($"{Section}:MaxUploadBytes must be at least 1024, not {MaxUploadBytes}");
        }

        if (MaxDecompressedBytes < 1024)
        {
            errors.Add($"{Section}:MaxDecompressedBytes must be at least 1024, not {MaxDecompressedBytes}");
        }

        if (MaxArchiveEntries < 1)
        {
            errors.Add($"{Section}:MaxArchiveEntries must be at least 1, not {MaxArchiveEntries}");
        }

        if (MaxColumns is < 1 or > 1_000_000)
        {
            errors.Add($"{Section}:MaxColumns must be between 1 and 1000000, not {MaxColumns}");
        }

        if (MaxFieldBytes is < 1 or > MaxRowBytesCeiling)
        {
            errors.Add($"{Section}:MaxFieldBytes must be between 1 and {MaxRowBytesCeiling}, not {MaxFieldBytes}");
        }

        if (MaxRowBytes is < 1 or > MaxRowBytesCeiling)
        {
            errors.Add($"{Section}:MaxRowBytes must be between 1 and {MaxRowBytesCeiling}, not {MaxRowBytes}");
        }
        else if (MaxFieldBytes > MaxRowBytes)
        {
            errors.Add($"{Section}:MaxFieldBytes ({MaxFieldBytes}) must not be more than {Section}:MaxRowBytes ({MaxRowBytes}): a field is part of a row");
        }

        if (MaxPreviewRows is < 1 or > 100_000)
        {
            errors.Add($"{Section}:MaxPreviewRows must be between 1 and 100000, not {MaxPreviewRows}");
        }

        const double maxTtl = Registry.RegistryOptions.MaxUploadSessionTtlHours;
        if (!(UploadSessionTtlHours is > 0 and <= maxTtl))
        {
            errors.Add($"{Section}:UploadSessionTtlHours must be more than 0 and at most {maxTtl} (a year), not {UploadSessionTtlHours}");
        }

        if (MaxUploadSessionsPerTenant is < 1 or > 100_000)
        {
            errors.Add($"{Section}:MaxUploadSessionsPerTenant must be between 1 and 100000, not {MaxUploadSessionsPerTenant}");
        }

        return errors;
    }
}
