namespace Maas.Core.Datasets;

/// <summary>
/// The file names a dataset version can be uploaded under: the extension picks the format. The CLI compiles this file
/// too (linked from Maas.Cli.csproj), so that <c>maas datasets push</c> refuses a file before sending any of it by the
/// same rule the server applies; it therefore uses nothing but the base library.
/// </summary>
internal static class DatasetFileNames
{
    /// <summary>The extensions accepted, for error messages and docs.</summary>
    public const string Accepted = ".csv, .tsv, .jsonl (each optionally .gz), .parquet, .zip, .tar, .tar.gz or .tgz (IDX images + labels, or pictures in one folder per class)";

    /// <summary>
    /// The wire name of the format <paramref name="fileName"/>'s extension picks ("csv", "tsv", "jsonl", "parquet" or
    /// "idx", which a folder of pictures in the archive turns into "image-folder") and whether the whole file is
    /// gzip-compressed; null when the extension is none of <see cref="Accepted"/>.
    /// </summary>
    public static (string Format, bool Gzip)? Match(string fileName)
    {
        var name = fileName.ToLowerInvariant();
        if (name.EndsWith(".tgz", StringComparison.Ordinal) || name.EndsWith(".tar.gz", StringComparison.Ordinal))
        {
            return ("idx", true);
        }

        var gzip = name.EndsWith(".gz", StringComparison.Ordinal);
        if (gzip)
        {
            name = name[..^3];
        }

        string? format = Path.GetExtension(name) switch
        {
            ".csv" => "csv",
            ".tsv" or ".tab" => "tsv",
            ".jsonl" or ".ndjson" => "jsonl",
            ".parquet" when !gzip => "parquet",
            ".zip" or ".tar" when !gzip => "idx",
            _ => null,
        };
        return format is { } f ? (f, gzip) : null;
    }
}
