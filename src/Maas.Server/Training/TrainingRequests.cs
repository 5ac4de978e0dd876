using System.Text.Json;
using Maas.Core.Jobs.Queue;
using Maas.Core.Registry;
using Maas.Core.Training;

namespace Maas.Server.Training;

/// <summary>POST /api/v1/training/jobs.</summary>
public sealed record TrainingJobRequest(
    string? Model,
    string? Dataset,
    string? Task,
    string? Label,
    string[]? Features,
    string? Trainer,
    Dictionary<string, double>? Hyperparameters,
    SplitRequest? Split,
    JsonElement? Search,
    string? Alias,
    string? Visibility,
    List<NetworkLayer>? Network = null);

/// <summary>The split part of a training request.</summary>
public sealed record SplitRequest(double? Validation, double? Test, int? Seed);

/// <summary>A training job as the API shows it.</summary>
public sealed record TrainingJobResponse
{
    /// <summary>The job id.</summary>
    public required string Id { get; init; }

    /// <summary>queued, running, succeeded, failed or cancelled.</summary>
    public required string Status { get; init; }

    /// <summary>The model it registers into.</summary>
    public string? Model { get; init; }

    /// <summary>The dataset version it trains from ("name:version").</summary>
    public string? Dataset { get; init; }

    /// <summary>The task.</summary>
    public string? Task { get; init; }

    /// <summary>The trainer.</summary>
    public string? Trainer { get; init; }

    /// <summary>Percent done.</summary>
    public double Progress { get; init; }

    /// <summary>What it is doing now.</summary>
    public string? Stage { get; init; }

    /// <summary>The epoch (trainers with epochs).</summary>
    public int? Epoch { get; init; }

    /// <summary>The iteration (trainers that report them).</summary>
    public long? Iteration { get; init; }

    /// <summary>The latest metrics.</summary>
    public IReadOnlyDictionary<string, double> Metrics { get; init; } = new Dictionary<string, double>();

    /// <summary>Estimated seconds left.</summary>
    public double? EtaSeconds { get; init; }

    /// <summary>The registered version, once succeeded: {"model", "version", "evaluation"}.</summary>
    public JsonElement? Result { get; init; }

    /// <summary>Why it failed or was cancelled.</summary>
    public Maas.Core.Jobs.JobError? Error { get; init; }

    /// <summary>Times a worker claimed it.</summary>
    public int Attempts { get; init; }

    /// <summary>The worker holding it (or that held it last).</summary>
    public string? Worker { get; init; }

    /// <summary>True once a cancel was asked for.</summary>
    public bool CancelRequested { get; init; }

    /// <summary>Who submitted it.</summary>
    public string CreatedBy { get; init; } = "";

    /// <summary>When it was submitted.</summary>
    public DateTimeOffset CreatedAt { get; init; }

    /// <summary>When a worker first started it.</summary>
    public DateTimeOffset? StartedAt { get; init; }

    /// <summary>When it last changed.</summary>
    public DateTimeOffset UpdatedAt { get; init; }

    /// <summary>When it ended.</summary>
    public DateTimeOffset? FinishedAt { get; init; }

    /// <summary>Its URL.</summary>
    public string Url => $"/api/v1/training/jobs/{Id}";

    /// <summary>Its events' URL.</summary>
    public string EventsUrl => $"/api/v1/training/jobs/{Id}/events";

    /// <summary>The API view of a queued training job.</summary>
    public static TrainingJobResponse From(QueuedJob job)
    {
        // A search's trials are shown like training jobs: their spec wraps the training they run.
        var spec = job.Kind == TrialSpec.Kind
            ? JsonSerializer.Deserialize<TrialSpec>(job.Spec, RegistryJson.Options)?.Training
            : JsonSerializer.Deserialize<TrainingSpec>(job.Spec, RegistryJson.Options);
        JsonElement? result = null;
        if (job.Result is { } text)
        {
            using var document = JsonDocument.Parse(text);
            result = document.RootElement.Clone();
        }

        return new TrainingJobResponse
        {
            Id = job.Id,
            Status = job.Status.ToString().ToLowerInvariant(),
            Model = spec?.Model,
            Dataset = spec is null ? null : $"{spec.Dataset.Name}:{spec.Dataset.Version}",
            Task = spec?.Task,
            Trainer = spec?.Trainer,
            Progress = Math.Round(job.Progress.Percent, 2),
            Stage = job.Progress.Stage,
            Epoch = job.Progress.Epoch,
            Iteration = job.Progress.Iteration,
            Metrics = job.Progress.Metrics ?? new Dictionary<string, double>(),
            EtaSeconds = job.IsFinished ? null : job.Progress.EtaSeconds,
            Result = result,
            Error = job.Error,
            Attempts = job.Attempts,
            Worker = job.Worker,
            CancelRequested = job.CancelRequested,
            CreatedBy = job.CreatedBy,
            CreatedAt = job.CreatedAt,
            StartedAt = job.StartedAt,
            UpdatedAt = job.UpdatedAt,
            FinishedAt = job.FinishedAt,
        };
    }
}
