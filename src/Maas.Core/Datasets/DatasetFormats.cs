namespace Maas.Core.Datasets;

/// <summary>Picks a format from a file name.</summary>
public static class DatasetFormats
{
    /// <summary>The extensions accepted, for error messages and docs.</summary>
    public const string Accepted = DatasetFileNames.Accepted;

    /// <summary>The format of <paramref name="fileName"/> and whether the whole file is gzip-compressed; null when unknown.</summary>
    public static (DatasetFormat Format, bool Gzip)? FromFileName(string fileName) =>
        DatasetFileNames.Match(fileName) is var (format, gzip) ? (Parse(format), gzip) : null;

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
