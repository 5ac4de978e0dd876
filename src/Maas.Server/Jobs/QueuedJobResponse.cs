using System.Text.Json;
using Maas.Core.Jobs;
using Maas.Core.Jobs.Queue;

namespace Maas.Server.Jobs;

/// <summary>A worker-run job (optimisation, training, ...) as /api/v1/jobs shows it.</summary>
public sealed record QueuedJobResponse
{
    /// <summary>The job id.</summary>
    public required string Id { get; init; }

    /// <summary>What it does ("optimization", "training", ...).</summary>
    public required string Kind { get; init; }

    /// <summary>queued, running, succeeded, failed or cancelled.</summary>
    public required string Status { get; init; }

    /// <summary>The model it works on (from its spec).</summary>
    public string? Model { get; init; }

    /// <summary>The version it works on (from its spec), when it has one.</summary>
    public int? Version { get; init; }

    /// <summary>Percent done.</summary>
    public double Progress { get; init; }

    /// <summary>What it is doing now.</summary>
    public string? Stage { get; init; }

    /// <summary>What it produced, once succeeded.</summary>
    public JsonElement? Result { get; init; }

    /// <summary>Why it failed or was cancelled.</summary>
    public JobError? Error { get; init; }

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
    public string Url => $"/api/v1/jobs/{Id}";

    /// <summary>Its events' URL.</summary>
    public string EventsUrl => $"/api/v1/jobs/{Id}/events";

    /// <summary>The API view of a queued job; models are named as <paramref name="tenant"/> names them (null: by key).</summary>
    public static QueuedJobResponse From(QueuedJob job, string? tenant = null)
    {
        JsonElement? result = null;
        if (job.Result is { } text)
        {
            // Workers record models by key; the caller sees its own by their short name, others' as owner/name.
            var node = System.Text.Json.Nodes.JsonNode.Parse(text);
            if (tenant is not null && node is System.Text.Json.Nodes.JsonObject o && o["model"] is System.Text.Json.Nodes.JsonValue v && v.TryGetValue<string>(out var key))
            {
                o["model"] = Maas.Core.Registry.ModelKeys.RelativeTo(key, tenant);
            }

            using var document = JsonDocument.Parse(node?.ToJsonString() ?? "null");
            result = document.RootElement.Clone();
        }

        var (model, version) = Subject(job.Spec);
        model = model is not null && tenant is not null ? Maas.Core.Registry.ModelKeys.RelativeTo(model, tenant) : model;
        return new QueuedJobResponse
        {
            Id = job.Id,
            Kind = job.Kind,
            Status = job.Status.ToString().ToLowerInvariant(),
            Model = model,
            Version = version,
            Progress = job.Status == JobStatus.Succeeded ? 100 : Math.Round(job.Progress.Percent, 2),
            Stage = job.IsFinished ? null : job.Progress.Stage,
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

    /// <summary>The model (and version) a job's spec names, read without knowing its kind.</summary>
    public static (string? Model, int? Version) Subject(string spec)
    {
        try
        {
            using var document = JsonDocument.Parse(spec);
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                return (null, null);
            }

            var model = root.TryGetProperty("model", out var m) && m.ValueKind == JsonValueKind.String ? m.GetString() : null;
            int? version = root.TryGetProperty("version", out var v) && v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out var n) ? n : null;
            return (model, version);
        }
        catch (JsonException)
        {
            return (null, null);
        }
    }
}
