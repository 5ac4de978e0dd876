using Maas.Core.Formats;

namespace Maas.Core.Registry;

/// <summary>Where a version is in its life: reserved while its artifact arrives, then ready and immutable.</summary>
public enum VersionStatus
{
    /// <summary>The number is taken and the artifact is arriving; invisible to readers.</summary>
    Uploading,

    /// <summary>Validated, stored and immutable.</summary>
    Ready,
}

/// <summary>One file of a version's artifact, at a path relative to the version's folder.</summary>
public sealed record ArtifactFile(string Path, string Sha256, long SizeBytes);

/// <summary>The version a version was derived from (the model by its key), and how ("quantized_from", "trained_from", ...).</summary>
public sealed record Lineage(string Model, int Version, string Relation);

/// <summary>A numbered, immutable version of a model: its artifact, signature, metadata and lineage.</summary>
public sealed record ModelVersion
{
    /// <summary>The owning model's id.</summary>
    public required long ModelId { get; init; }

    /// <summary>The owning model's key (<see cref="ModelKeys"/>): its name, or <c>owner/name</c> outside the default tenant.</summary>
    public required string Model { get; init; }

    /// <summary>The version number, unique per model and never reused by automatic numbering.</summary>
    public required int Version { get; init; }

    /// <summary>Uploading or ready.</summary>
    public required VersionStatus Status { get; init; }

    /// <summary>The artifact's format, read from its content.</summary>
    public ModelFormat Format { get; init; }

    /// <summary>The SHA-256 of the primary file (the .onnx or .gguf), lowercase hex.</summary>
    public string Sha256 { get; init; } = "";

    /// <summary>The total size of every file of the artifact.</summary>
    public long SizeBytes { get; init; }

    /// <summary>The primary file's name (relative path).</summary>
    public string FileName { get; init; } = "";

    /// <summary>The key of the artifact in the artifact store (content address).</summary>
    public string ArtifactKey { get; init; } = "";

    /// <summary>Every file of the artifact, the primary file first (more than one for ONNX with external data).</summary>
    public IReadOnlyList<ArtifactFile> Files { get; init; } = [];

    /// <summary>What the file itself says it takes and gives.</summary>
    public ModelSignature Signature { get; init; } = new();

    /// <summary>Free-form key/values from the uploader.</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; init; } = new Dictionary<string, string>();

    /// <summary>The version it came from, if the uploader said so.</summary>
    public Lineage? DerivedFrom { get; init; }

    /// <summary>Who created it.</summary>
    public string CreatedBy { get; init; } = "";

    /// <summary>When its number was reserved.</summary>
    public DateTimeOffset CreatedAt { get; init; }

    /// <summary>The aliases that point at it (filled in by reads).</summary>
    public IReadOnlyList<string> Aliases { get; init; } = [];
}

/// <summary>What the uploader says about a new version besides its files.</summary>
public sealed record NewVersionOptions
{
    /// <summary>A version number to use instead of the next free one; taken numbers give a 409.</summary>
    public int? Version { get; init; }

    /// <summary>Free-form metadata.</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; init; } = new Dictionary<string, string>();

    /// <summary>Lineage: the version this one was derived from.</summary>
    public Lineage? DerivedFrom { get; init; }

    /// <summary>Who creates it.</summary>
    public string CreatedBy { get; init; } = "";
}
