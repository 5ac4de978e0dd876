using System.Text.Json;
using System.Text.Json.Serialization;

namespace Maas.Client.Registry;

/// <summary>A registered model as the server returns it (with versions and aliases when fetched one by one).</summary>
public sealed record ModelInfo
{
    public required string Name { get; init; }

    public string? Description { get; init; }

    public IReadOnlyList<string>? Tags { get; init; }

    public string? Task { get; init; }

    public string? Visibility { get; init; }

    public string? Owner { get; init; }

    /// <summary><c>owner/name</c>: how any tenant names the model (a short name is the caller's own tenant's).</summary>
    public string? QualifiedName { get; init; }

    public int? LatestVersion { get; init; }

    public string? CreatedBy { get; init; }

    public DateTimeOffset? CreatedAt { get; init; }

    public DateTimeOffset? UpdatedAt { get; init; }

    public JsonElement? ServingConfig { get; init; }

    public IReadOnlyList<VersionSummary>? Versions { get; init; }

    public IReadOnlyList<AliasInfo>? Aliases { get; init; }

    public string? Url { get; init; }

    /// <summary>Fields this client does not know (kept, so nothing is lost when the model is printed again).</summary>
    [JsonExtensionData]
    public Dictionary<string, JsonElement>? Extra { get; init; }
}

/// <summary>One page of a model listing.</summary>
public sealed record ModelList(IReadOnlyList<ModelInfo> Models, int Total, int Limit, int Offset);

/// <summary>A version in a model's summary.</summary>
public sealed record VersionSummary
{
    public int Version { get; init; }

    public string? Format { get; init; }

    public string? Sha256 { get; init; }

    public long SizeBytes { get; init; }

    public string? FileName { get; init; }

    public IReadOnlyList<string>? Aliases { get; init; }

    public DateTimeOffset? CreatedAt { get; init; }
}

/// <summary>One file of a version (the model file or an external-data file).</summary>
public sealed record ArtifactFileInfo(string Path, string Sha256, long SizeBytes);

/// <summary>A model version as the server returns it.</summary>
public sealed record VersionInfo
{
    public required string Model { get; init; }

    public int Version { get; init; }

    public string? Status { get; init; }

    public string? Format { get; init; }

    public string? Sha256 { get; init; }

    public long SizeBytes { get; init; }

    public string? FileName { get; init; }

    public IReadOnlyList<ArtifactFileInfo>? Files { get; init; }

    public JsonElement? Signature { get; init; }

    public IReadOnlyDictionary<string, string>? Metadata { get; init; }

    public JsonElement? DerivedFrom { get; init; }

    public IReadOnlyList<string>? Aliases { get; init; }

    public string? CreatedBy { get; init; }

    public DateTimeOffset? CreatedAt { get; init; }

    public string? Url { get; init; }

    public string? ArtifactUrl { get; init; }

    /// <summary>
    /// Each output's class labels as the server resolves them (serving configuration, then metadata, then the file);
    /// null when no output has any, or from a server that does not send them.
    /// </summary>
    public IReadOnlyDictionary<string, IReadOnlyList<string>>? OutputLabels { get; init; }

    /// <summary>Fields this client does not know.</summary>
    [JsonExtensionData]
    public Dictionary<string, JsonElement>? Extra { get; init; }
}

/// <summary>The versions of a model.</summary>
public sealed record VersionList(string Model, IReadOnlyList<VersionInfo> Versions);

/// <summary>An alias and the version it points at.</summary>
public sealed record AliasInfo(string Name, int Version, long Revision, DateTimeOffset? UpdatedAt, string? UpdatedBy);

/// <summary>The aliases of a model.</summary>
public sealed record AliasList(string Model, IReadOnlyList<AliasInfo> Aliases);

/// <summary>What a model reference (<c>name</c>, <c>name:alias</c>, <c>name/versions/N</c>) resolves to.</summary>
public sealed record ResolvedReference(string Reference, string? Alias, VersionInfo Version)
{
    /// <summary>The model's deployment, for a plain model name that has one: <see cref="Version"/> is then its primary version.</summary>
    public ResolvedDeploymentInfo? Deployment { get; init; }
}

/// <summary>The deployment a plain model name resolves through: the versions its split routes calls to.</summary>
/// <remarks>
/// <see cref="Name"/>, <see cref="Traffic"/>, <see cref="Stable"/> and <see cref="Url"/> are given to the deployment's
/// own tenant and admins only (null for another tenant calling a model shared with it).
/// </remarks>
public sealed record ResolvedDeploymentInfo(string? Name, IReadOnlyList<int> Versions)
{
    public IReadOnlyList<Deployments.TrafficShareInfo>? Traffic { get; init; }

    public int? Stable { get; init; }

    public string? Url { get; init; }
}

/// <summary>A new model: <c>POST /api/v1/models</c>.</summary>
public sealed record NewModel(string Name)
{
    public string? Description { get; init; }

    public IReadOnlyList<string>? Tags { get; init; }

    public string? Task { get; init; }

    public string? Visibility { get; init; }

    public string? Owner { get; init; }
}

/// <summary>Filters of a model listing.</summary>
public sealed record ModelQuery
{
    public string? Search { get; init; }

    public IReadOnlyList<string>? Tags { get; init; }

    public string? Task { get; init; }

    public string? Format { get; init; }

    public string? Owner { get; init; }

    public int? Limit { get; init; }

    public int? Offset { get; init; }
}

/// <summary>Optional parts of an upload: the version number, metadata, lineage and the expected checksum.</summary>
public sealed record UploadOptions
{
    public int? Version { get; init; }

    public IReadOnlyDictionary<string, string>? Metadata { get; init; }

    public string? DerivedFrom { get; init; }

    public string? Relation { get; init; }

    public string? Sha256 { get; init; }
}

/// <summary>Settings of a resumable (chunked) upload.</summary>
public sealed record ResumableUploadOptions
{
    /// <summary>Bytes per chunk (default 8 MiB).</summary>
    public int ChunkBytes { get; init; } = 8 << 20;

    /// <summary>An existing session to go on with (from <see cref="UploadSession.Id"/>); a new one when null.</summary>
    public string? SessionId { get; init; }

    /// <summary>Attempts per chunk when the connection breaks (the offset is asked again before each retry).</summary>
    public int MaxAttempts { get; init; } = 5;

    /// <summary>Called with the session once it exists (to tell the user how to resume).</summary>
    public Action<UploadSession>? SessionStarted { get; init; }
}

/// <summary>A resumable upload session.</summary>
public sealed record UploadSession(string Id, string Model, string Filename, long? Size, long Offset, string? Sha256, DateTimeOffset? ExpiresAt, string? Url);

/// <summary>An import from a URL: <c>POST /api/v1/models/{name}/versions:import</c>.</summary>
public sealed record ImportRequest(string Url)
{
    public string? Sha256 { get; init; }

    public string? Filename { get; init; }

    public int? Version { get; init; }

    public IReadOnlyDictionary<string, string>? Metadata { get; init; }

    public string? DerivedFrom { get; init; }

    public string? Relation { get; init; }
}
