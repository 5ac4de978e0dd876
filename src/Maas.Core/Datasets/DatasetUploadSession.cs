namespace Maas.Core.Datasets;

/// <summary>A resumable upload of one dataset file: chunks arrive at offsets until it is completed into a version.</summary>
public sealed record DatasetUploadSession
{
    /// <summary>The random id callers address it by.</summary>
    public required string Id { get; init; }

    /// <summary>The dataset the file becomes a version of.</summary>
    public required string Dataset { get; init; }

    /// <summary>The tenant that owns the dataset (sessions are counted per tenant).</summary>
    public required string Owner { get; init; }

    /// <summary>The file's name; its extension picks the format.</summary>
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
