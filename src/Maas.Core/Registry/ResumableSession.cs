namespace Maas.Core.Registry;

/// <summary>
/// What every resumable upload session has, whatever the file is for (a model version's file, a dataset version):
/// chunks arrive at offsets until it is completed. <see cref="UploadSession"/> and
/// <see cref="Datasets.DatasetUploadSession"/> add their target.
/// </summary>
public abstract record ResumableSession
{
    /// <summary>The random id callers address it by.</summary>
    public required string Id { get; init; }

    /// <summary>The file's name (a relative path for a model's file; a dataset file's extension picks the format).</summary>
    public required string FileName { get; init; }

    /// <summary>The full size when the caller announced it; chunks past it are refused.</summary>
    public long? TotalBytes { get; init; }

    /// <summary>Bytes received so far: the offset the next chunk must start at.</summary>
    public long Offset { get; init; }

    /// <summary>The SHA-256 the caller expects, checked when the upload is completed.</summary>
    public string? ExpectedSha256 { get; init; }

    /// <summary>The key that started it; no other key (admins aside) sees it.</summary>
    public string CreatedBy { get; init; } = "";

    /// <summary>When it started.</summary>
    public DateTimeOffset CreatedAt { get; init; }

    /// <summary>When an unfinished upload is thrown away.</summary>
    public DateTimeOffset ExpiresAt { get; init; }
}
