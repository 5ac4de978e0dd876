namespace Maas.Core.Registry;

/// <summary>A resumable upload of one file: chunks arrive at offsets until it is completed into a version.</summary>
public sealed record UploadSession
{
    /// <summary>The random id callers address it by.</summary>
    public required string Id { get; init; }

    /// <summary>The key of the model the file is for.</summary>
    public required string Model { get; init; }

    /// <summary>The file's name in the version (relative path).</summary>
    public required string FileName { get; init; }

    /// <summary>The full size when the caller announced it; chunks past it are refused.</summary>
    public long? TotalBytes { get; init; }

    /// <summary>Bytes received so far: the offset the next chunk must start at.</summary>
    public long Offset { get; init; }

    /// <summary>The SHA-256 the caller expects, checked when the upload is completed.</summary>
    public string? ExpectedSha256 { get; init; }

    /// <summary>Who started it.</summary>
    public string CreatedBy { get; init; } = "";

    /// <summary>When it started.</summary>
    public DateTimeOffset CreatedAt { get; init; }

    /// <summary>When an unfinished upload is thrown away.</summary>
    public DateTimeOffset ExpiresAt { get; init; }
}
