using Maas.Core.Formats;

namespace Maas.Core.Registry;

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
