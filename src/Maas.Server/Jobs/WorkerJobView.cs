using System.Text.Json;
using Maas.Core.Jobs;
using Maas.Core.Jobs.Queue;

namespace Maas.Server.Jobs;

/// <summary>What every worker-run job shows: its state, progress, outcome and times (the API views add what they name).</summary>
public abstract record WorkerJobView
{
    /// <summary>Fills the common part from <paramref name="job"/>; models in its result are named as <paramref name="tenant"/> names them (null: by key).</summary>
    protected WorkerJobView(QueuedJob job, string? tenant)
    {
        Id = job.Id;
        Status = job.Status.ToString().ToLowerInvariant();
        Progress = job.Status == JobStatus.Succeeded ? 100 : Math.Round(job.Progress.Percent, 2);
        // A running job asked to stop says so until its worker stops it (an ML.NET fit, say, runs to its end first).
        Stage = job.IsFinished ? null : job.Status == JobStatus.Running && job.CancelRequested ? CancellingStage : job.Progress.Stage;
        Result = ResultOf(job, tenant);
        Error = job.Error;
        Attempts = job.Attempts;
        Worker = job.Worker;
        CancelRequested = job.CancelRequested;
        Finishing = job.Finishing && !job.IsFinished;
        CreatedBy = job.CreatedBy;
        CreatedAt = job.CreatedAt;
        StartedAt = job.StartedAt;
        UpdatedAt = job.UpdatedAt;
        FinishedAt = job.FinishedAt;
    }

    /// <summary>The job id.</summary>
    public string Id { get; init; }

    /// <summary>queued, running, succeeded, failed or cancelled.</summary>
    public string Status { get; init; }

    /// <summary>Percent done.</summary>
    public double Progress { get; init; }

    /// <summary>The stage of a running job whose cancel was asked for, until its worker stops it.</summary>
    public const string CancellingStage = "cancelling";

    /// <summary>What it is doing now (<see cref="CancellingStage"/> once a cancel was asked for).</summary>
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

    /// <summary>True while the job registers its result (past its point of no return): a cancel is refused from then on.</summary>
    public bool Finishing { get; init; }

    /// <summary>Who submitted it.</summary>
    public string CreatedBy { get; init; }

    /// <summary>When it was submitted.</summary>
    public DateTimeOffset CreatedAt { get; init; }

    /// <summary>When a worker first started it.</summary>
    public DateTimeOffset? StartedAt { get; init; }

    /// <summary>When it last changed.</summary>
    public DateTimeOffset UpdatedAt { get; init; }

    /// <summary>When it ended.</summary>
    public DateTimeOffset? FinishedAt { get; init; }

    /// <summary>Its URL.</summary>
    public abstract string Url { get; }

    /// <summary>Its events' URL.</summary>
    public string EventsUrl => Url + "/events";

    /// <summary>A model key as <paramref name="tenant"/> names it (null: the key).</summary>
    protected static string? Named(string? key, string? tenant) =>
        key is not null && tenant is not null ? Maas.Core.Registry.ModelKeys.RelativeTo(key, tenant) : key;

    // Workers record models by key; the caller sees its own by their short name, others' as owner/name.
    private static JsonElement? ResultOf(QueuedJob job, string? tenant)
    {
        if (job.Result is not { } text)
        {
            return null;
        }

        var node = System.Text.Json.Nodes.JsonNode.Parse(text);
        if (tenant is not null && node is System.Text.Json.Nodes.JsonObject o && o["model"] is System.Text.Json.Nodes.JsonValue v && v.TryGetValue<string>(out var key))
        {
            o["model"] = Maas.Core.Registry.ModelKeys.RelativeTo(key, tenant);
        }

        using var document = JsonDocument.Parse(node?.ToJsonString() ?? "null");
        return document.RootElement.Clone();
    }
}
