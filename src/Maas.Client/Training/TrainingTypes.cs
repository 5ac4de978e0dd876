using System.Text.Json;
using System.Text.Json.Serialization;

namespace Maas.Client.Training;

/// <summary>A training job to submit: POST /api/v1/training/jobs (docs/api.md, Training).</summary>
public sealed record TrainingRequest
{
    /// <summary>The model the trained version is registered into (created when missing).</summary>
    public string? Model { get; init; }

    /// <summary><c>name</c> or <c>name:version</c>.</summary>
    public string? Dataset { get; init; }

    /// <summary><c>regression</c>, <c>binary-classification</c>, <c>multiclass-classification</c> or <c>image-classification</c>.</summary>
    public string? Task { get; init; }

    public string? Label { get; init; }

    public IReadOnlyList<string>? Features { get; init; }

    public string? Trainer { get; init; }

    public Dictionary<string, double>? Hyperparameters { get; init; }

    public TrainingSplit? Split { get; init; }

    /// <summary>A hyperparameter search (<c>{"method", "space", "trials", "metric", "seed"}</c>).</summary>
    public JsonElement? Search { get; init; }

    /// <summary>The layers of an image-classification network.</summary>
    public JsonElement? Network { get; init; }

    public string? Alias { get; init; }

    public string? Visibility { get; init; }

    /// <summary>Fields this client does not know (sent as they are).</summary>
    [JsonExtensionData]
    public Dictionary<string, JsonElement>? Extra { get; init; }
}

/// <summary>How a dataset is split into training, validation and test rows.</summary>
public sealed record TrainingSplit(double? Validation = null, double? Test = null, int? Seed = null);

/// <summary>A training job with its progress, latest metrics and, once succeeded, the registered version.</summary>
public sealed record TrainingJobInfo
{
    public required string Id { get; init; }

    /// <summary><c>queued</c>, <c>running</c>, <c>succeeded</c>, <c>failed</c> or <c>cancelled</c>.</summary>
    public required string Status { get; init; }

    public string? Model { get; init; }

    public string? Dataset { get; init; }

    public string? Task { get; init; }

    public string? Trainer { get; init; }

    public double Progress { get; init; }

    public string? Stage { get; init; }

    public int? Epoch { get; init; }

    public long? Iteration { get; init; }

    public IReadOnlyDictionary<string, double>? Metrics { get; init; }

    public double? EtaSeconds { get; init; }

    /// <summary>A job with a search: how many trials it runs (while <see cref="Stage"/> is <c>searching</c>, <see cref="Iteration"/> counts those finished).</summary>
    public int? SearchTrials { get; init; }

    public JsonElement? Result { get; init; }

    public Jobs.JobErrorInfo? Error { get; init; }

    public int Attempts { get; init; }

    public bool CancelRequested { get; init; }

    public string? CreatedBy { get; init; }

    public DateTimeOffset? CreatedAt { get; init; }

    public DateTimeOffset? FinishedAt { get; init; }

    public string? Url { get; init; }

    public string? EventsUrl { get; init; }

    /// <summary>Fields this client does not know.</summary>
    [JsonExtensionData]
    public Dictionary<string, JsonElement>? Extra { get; init; }

    /// <summary>True once the job ended.</summary>
    [JsonIgnore]
    public bool Finished => Status is "succeeded" or "failed" or "cancelled";
}

/// <summary>The newest training jobs.</summary>
public sealed record TrainingJobList(IReadOnlyList<TrainingJobInfo> Jobs);
