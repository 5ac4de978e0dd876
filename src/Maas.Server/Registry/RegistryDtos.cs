using Maas.Core.Formats;
using Maas.Core.Jobs;
using Maas.Core.Registry;
using Maas.Core.Registry.Import;
using Maas.Server.Jobs;

namespace Maas.Server.Registry;

/// <summary>POST /api/v1/models.</summary>
public sealed record CreateModelRequest(string? Name, string? Description, string[]? Tags, string? Task, string? Visibility, string? Owner);

/// <summary>PATCH /api/v1/models/{name}: only the given fields change; a task given as null or "" is cleared.</summary>
public sealed record UpdateModelRequest
{
    private readonly string? _task;

    /// <summary>The new description ("" empties it).</summary>
    public string? Description { get; init; }

    /// <summary>The new tags, replacing the old ([] drops them all).</summary>
    public string[]? Tags { get; init; }

    /// <summary>The new task; see <see cref="TaskGiven"/>.</summary>
    public string? Task
    {
        get => _task;
        init
        {
            _task = value;
            TaskGiven = true;
        }
    }

    /// <summary>"private" or "shared".</summary>
    public string? Visibility { get; init; }

    /// <summary>
    /// True when the body has a "task" at all: only then is a null one "no task" rather than "left out" (the model's
    /// view shows a model without a task as "task": null, so sending that back clears it).
    /// </summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public bool TaskGiven { get; private init; }
}

/// <summary>PUT /api/v1/models/{name}/aliases/{alias}.</summary>
public sealed record SetAliasRequest(int? Version, int? ExpectedVersion);

/// <summary>POST /api/v1/models/{name}/versions:import.</summary>
public sealed record ImportVersionRequest(
    string? Url,
    string? Sha256,
    string? Filename,
    int? Version,
    Dictionary<string, string>? Metadata,
    string? DerivedFrom,
    string? Relation);

/// <summary>POST /api/v1/models/{name}/uploads.</summary>
public sealed record CreateUploadRequest(string? Filename, long? Size, string? Sha256);

/// <summary>POST /api/v1/uploads/{id}/complete.</summary>
public sealed record CompleteUploadRequest(int? Version, Dictionary<string, string>? Metadata, string? DerivedFrom, string? Relation, string[]? Files);

/// <summary>A model as the API shows it.</summary>
/// <remarks>
/// <see cref="Name"/> is the model's own name; <see cref="QualifiedName"/> is <c>owner/name</c>, which names it for
/// every caller; <see cref="Url"/> uses the name the viewing tenant would use (short for its own models).
/// </remarks>
public sealed record ModelResponse(
    string Name,
    string Description,
    IReadOnlyList<string> Tags,
    string? Task,
    ModelVisibility Visibility,
    string Owner,
    int? LatestVersion,
    string CreatedBy,
    DateTimeOffset CreatedAt,
    DateTimeOffset UpdatedAt,
    ServingConfig ServingConfig,
    string Url)
{
    /// <summary>Ready versions, in the single-model view.</summary>
    public IReadOnlyList<VersionSummary>? Versions { get; init; }

    /// <summary>Aliases, in the single-model view.</summary>
    public IReadOnlyList<AliasResponse>? Aliases { get; init; }

    /// <summary><c>owner/name</c>: how any tenant names this model.</summary>
    public string QualifiedName { get; init; } = "";

    /// <summary>The API view of a model, for a caller of <paramref name="tenant"/> (null: names by key).</summary>
    public static ModelResponse From(Model m, string? tenant = null) => new(
        m.Name, m.Description, m.Tags, m.Task, m.Visibility, m.Owner, m.LatestVersion, m.CreatedBy, m.CreatedAt, m.UpdatedAt, m.ServingConfig, ModelUrl(m.Key, tenant))
    {
        QualifiedName = m.QualifiedName,
    };

    /// <summary>The API path of a model (by key) as <paramref name="tenant"/> names it, the '/' of owner/name escaped.</summary>
    public static string ModelUrl(string key, string? tenant) =>
        "/api/v1/models/" + Uri.EscapeDataString(tenant is null ? key : ModelKeys.RelativeTo(key, tenant));
}

/// <summary>A version in a model's listing.</summary>
public sealed record VersionSummary(int Version, ModelFormat Format, string Sha256, long SizeBytes, string FileName, IReadOnlyList<string> Aliases, DateTimeOffset CreatedAt)
{
    /// <summary>The summary of a version.</summary>
    public static VersionSummary From(ModelVersion v) => new(v.Version, v.Format, v.Sha256, v.SizeBytes, v.FileName, v.Aliases, v.CreatedAt);
}

/// <summary>The lineage of a version as the API shows it.</summary>
public sealed record LineageResponse(string Model, int Version, string Relation);

/// <summary>A version as the API shows it.</summary>
public sealed record VersionResponse(
    string Model,
    int Version,
    VersionStatus Status,
    ModelFormat Format,
    string Sha256,
    long SizeBytes,
    string FileName,
    IReadOnlyList<ArtifactFile> Files,
    ModelSignature Signature,
    IReadOnlyDictionary<string, string> Metadata,
    LineageResponse? DerivedFrom,
    IReadOnlyList<string> Aliases,
    string CreatedBy,
    DateTimeOffset CreatedAt,
    string Url,
    string ArtifactUrl)
{
    /// <summary>The evaluation on the held-out test split, for versions a training job registered.</summary>
    public System.Text.Json.JsonElement? Evaluation { get; init; }

    /// <summary>Where a trained version came from: dataset (name, version, sha256), job, trainer, hyperparameters, seed.</summary>
    public System.Text.Json.JsonElement? Lineage { get; init; }

    /// <summary>For versions an optimisation job registered: status (ready or rejected), method, job, source and report.</summary>
    public System.Text.Json.JsonElement? Optimization { get; init; }

    /// <summary>
    /// Each output's class labels as serving names them (the model's serving configuration, then the version's
    /// metadata, then its file: <see cref="VersionLabels.Usable"/>); only outputs the version has, with as many labels
    /// as classes where its signature fixes them; null when none has.
    /// </summary>
    public IReadOnlyDictionary<string, IReadOnlyList<string>>? OutputLabels { get; init; }

    /// <summary>
    /// The API view of a version of a model whose serving configuration is <paramref name="config"/>, its model named
    /// as <paramref name="tenant"/> names it (null: by key).
    /// </summary>
    public static VersionResponse From(ModelVersion v, ServingConfig config, string? tenant = null) => Create(v, tenant) with
    {
        Evaluation = Document(v, Maas.Core.Training.TabularModelInfo.EvaluationMetadataKey),
        Lineage = Document(v, Maas.Core.Training.TabularModelInfo.LineageMetadataKey),
        Optimization = Document(v, Maas.Optimization.OptimizationMetadata.Key),
        OutputLabels = VersionLabels.Usable(config, v),
    };

    private static System.Text.Json.JsonElement? Document(ModelVersion v, string key)
    {
        if (!v.Metadata.TryGetValue(key, out var text))
        {
            return null;
        }

        try
        {
            using var document = System.Text.Json.JsonDocument.Parse(text);
            return document.RootElement.ValueKind == System.Text.Json.JsonValueKind.Object ? document.RootElement.Clone() : null;
        }
        catch (System.Text.Json.JsonException)
        {
            return null; // Uploader metadata that happens to use the key: shown as metadata only.
        }
    }

    private static VersionResponse Create(ModelVersion v, string? tenant) => new(
        tenant is null ? v.Model : ModelKeys.RelativeTo(v.Model, tenant),
        v.Version,
        v.Status,
        v.Format,
        v.Sha256,
        v.SizeBytes,
        v.FileName,
        v.Files,
        v.Signature,
        v.Metadata,
        v.DerivedFrom is { } d ? new LineageResponse(tenant is null ? d.Model : ModelKeys.RelativeTo(d.Model, tenant), d.Version, d.Relation) : null,
        v.Aliases,
        v.CreatedBy,
        v.CreatedAt,
        $"{ModelResponse.ModelUrl(v.Model, tenant)}/versions/{v.Version}",
        $"{ModelResponse.ModelUrl(v.Model, tenant)}/versions/{v.Version}/artifact");
}

/// <summary>An alias as the API shows it.</summary>
public sealed record AliasResponse(string Name, int Version, long Revision, DateTimeOffset UpdatedAt, string UpdatedBy)
{
    /// <summary>The API view of an alias.</summary>
    public static AliasResponse From(ModelAlias a) => new(a.Name, a.Version, a.Revision, a.UpdatedAt, a.UpdatedBy);
}

/// <summary>A resumable upload as the API shows it.</summary>
public sealed record UploadResponse(string Id, string Model, string Filename, long? Size, long Offset, string? Sha256, DateTimeOffset CreatedAt, DateTimeOffset ExpiresAt,
    string Url)
{
    /// <summary>The API view of a session, its model named as <paramref name="tenant"/> names it (null: by key).</summary>
    public static UploadResponse From(UploadSession s, string? tenant = null) =>
        new(s.Id, tenant is null ? s.Model : ModelKeys.RelativeTo(s.Model, tenant), s.FileName, s.TotalBytes, s.Offset, s.ExpectedSha256, s.CreatedAt, s.ExpiresAt,
        $"/api/v1/uploads/{s.Id}");
}

/// <summary>A job as the API shows it.</summary>
public sealed record JobResponse(
    string Id,
    string Kind,
    JobStatus Status,
    string? Model,
    int? Version,
    double? Progress,
    long BytesDone,
    long? BytesTotal,
    string? Stage,
    JobError? Error,
    IReadOnlyDictionary<string, object?>? Result,
    bool CancelRequested,
    bool Finishing,
    string CreatedBy,
    DateTimeOffset CreatedAt,
    DateTimeOffset UpdatedAt,
    DateTimeOffset? FinishedAt,
    string Url)
{
    /// <summary>The API view of a job, its model named as <paramref name="tenant"/> names it (null: by key).</summary>
    public static JobResponse From(Job j, string? tenant = null) => new(
        j.Id,
        j.Kind,
        j.Status,
        j.Model is { } m && tenant is not null ? ModelKeys.RelativeTo(m, tenant) : j.Model,
        j.Version,
        // An import's percent follows its stages: the download fills 90, 100 comes with the registered version.
        j.Kind == ModelImporter.JobKind ? ImportProgress.Percent(j) : j.Progress,
        j.BytesDone,
        j.BytesTotal,
        // As worker-run jobs say it: a running job asked to stop is "cancelling" until it stops.
        j.CancelRequested && !j.IsFinished ? WorkerJobView.CancellingStage : j.Stage,
        j.Error,
        RelativeResult(j.Result, tenant),
        j.CancelRequested,
        j.Finishing,
        j.CreatedBy,
        j.CreatedAt,
        j.UpdatedAt,
        j.FinishedAt,
        $"/api/v1/jobs/{j.Id}");

    // An import's result names its model by key (stored so); the caller reads it as it names the model elsewhere.
    private static IReadOnlyDictionary<string, object?>? RelativeResult(IReadOnlyDictionary<string, object?>? result, string? tenant)
    {
        var key = result is not null && result.TryGetValue("model", out var value)
            ? value switch
            {
                string text => text,
                System.Text.Json.JsonElement { ValueKind: System.Text.Json.JsonValueKind.String } element => element.GetString(),
                _ => null,
            }
            : null;
        return key is null || tenant is null ? result : new Dictionary<string, object?>(result!) { ["model"] = ModelKeys.RelativeTo(key, tenant) };
    }
}
