namespace Maas.Core.Datasets;

/// <summary>The file formats a dataset version can be uploaded in; the file name's extension picks one.</summary>
public enum DatasetFormat
{
    /// <summary>Comma-separated values with a header row.</summary>
    Csv,

    /// <summary>Tab-separated values with a header row.</summary>
    Tsv,

    /// <summary>One JSON object per line.</summary>
    JsonLines,

    /// <summary>The MNIST IDX format: an images file and a labels file together in one zip or tar.</summary>
    Idx,

    /// <summary>Apache Parquet: flat columns of numbers, booleans, text and dates.</summary>
    Parquet,

    /// <summary>A zip or tar of pictures in one folder per class.</summary>
    ImageFolder,
}

/// <summary>Picks a format from a file name.</summary>
public static class DatasetFormats
{
    /// <summary>The extensions accepted, for error messages and docs.</summary>
    public const string Accepted = ".csv, .tsv, .jsonl (each optionally .gz), .parquet, .zip, .tar, .tar.gz or .tgz (IDX images + labels, or pictures in one folder per class)";

    /// <summary>The format of <paramref name="fileName"/> and whether the whole file is gzip-compressed; null when unknown.</summary>
    public static (DatasetFormat Format, bool Gzip)? FromFileName(string fileName)
    {
        var name = fileName.ToLowerInvariant();
        if (name.EndsWith(".tgz", StringComparison.Ordinal) || name.EndsWith(".tar.gz", StringComparison.Ordinal))
        {
            return (DatasetFormat.Idx, true);
        }

        var gzip = name.EndsWith(".gz", StringComparison.Ordinal);
        if (gzip)
        {
            name = name[..^3];
        }

        DatasetFormat? format = Path.GetExtension(name) switch
        {
            ".csv" => DatasetFormat.Csv,
            ".tsv" or ".tab" => DatasetFormat.Tsv,
            ".jsonl" or ".ndjson" => DatasetFormat.JsonLines,
            ".parquet" when !gzip => DatasetFormat.Parquet,
            ".zip" or ".tar" when !gzip => DatasetFormat.Idx,
            _ => null,
        };
        return format is { } f ? (f, gzip) : null;
    }

    /// <summary>The lowercase wire name of a format ("csv", "tsv", "jsonl", "idx", "parquet", "image-folder").</summary>
    public static string Name(DatasetFormat format) => format switch
    {
        DatasetFormat.Csv => "csv",
        DatasetFormat.Tsv => "tsv",
        DatasetFormat.JsonLines => "jsonl",
        DatasetFormat.Parquet => "parquet",
        DatasetFormat.ImageFolder => "image-folder",
        _ => "idx",
    };

    /// <summary>The format of a wire name.</summary>
    public static DatasetFormat Parse(string name) => name switch
    {
        "csv" => DatasetFormat.Csv,
        "tsv" => DatasetFormat.Tsv,
        "jsonl" => DatasetFormat.JsonLines,
        "idx" => DatasetFormat.Idx,
        "parquet" => DatasetFormat.Parquet,
        "image-folder" => DatasetFormat.ImageFolder,
        _ => throw new ArgumentException($"unknown dataset format '{name}'", nameof(name)),
    };
}
