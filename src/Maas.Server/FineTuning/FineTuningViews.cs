using System.Text.Json;
using Maas.Core.Jobs;
using Maas.Core.Jobs.Queue;
using Maas.Core.Registry;

namespace Maas.Server.FineTuning;

/// <summary>Queued jobs and their events in OpenAI's shapes (fine_tuning.job, fine_tuning.job.event, fine_tuning.job.checkpoint).</summary>
internal static class FineTuningViews
{
    /// <summary>OpenAI's status of a job: a running job is "validating_files" until its files are read.</summary>
    public static string Status(QueuedJob job) => job.Status switch
    {
        JobStatus.Queued => "queued",

        // Its cancel was answered "cancelled" (as OpenAI answers), and nothing is registered after it: it reads so until
        // its worker stops it.
        JobStatus.Running when job.CancelRequested => "cancelled",
        JobStatus.Running when job.Progress.Stage == FineTuningJobHandler.ValidatingStage => "validating_files",
        JobStatus.Running => "running",
        JobStatus.Succeeded => "succeeded",
        JobStatus.Failed => "failed",
        _ => "cancelled",
    };

    public static Dictionary<string, object?> Job(QueuedJob job)
    {
        var spec = FineTuningSpec.Read(job);
        var result = ReadResult(job);
        var hyperparameters = new Dictionary<string, object?>
        {
            ["n_epochs"] = spec?.Epochs,
            ["batch_size"] = spec is null ? null : spec.BatchSize is { } b ? b : "auto",
            ["learning_rate_multiplier"] = spec?.LearningRateMultiplier,
            ["train_last_layers"] = spec is null ? null : spec.TrainedLayers is { } layers ? layers : "auto",
        };
        return new Dictionary<string, object?>
        {
            ["object"] = "fine_tuning.job",
            ["id"] = job.Id,
            // An unreadable spec still names its model where it has a "model" field.
            ["model"] = spec?.Model ?? Jobs.QueuedJobResponse.Subject(job.Spec).Model,
            ["created_at"] = job.CreatedAt.ToUnixTimeSeconds(),
            ["finished_at"] = job.FinishedAt?.ToUnixTimeSeconds(),
            ["fine_tuned_model"] = result?.FineTunedModel,
            ["organization_id"] = job.Tenant,
            ["result_files"] = Array.Empty<string>(),
            ["status"] = Status(job),
            ["validation_file"] = spec?.ValidationFile,
            ["training_file"] = spec?.TrainingFile,
            ["hyperparameters"] = hyperparameters,
            ["method"] = new Dictionary<string, object?> { ["type"] = "supervised", ["supervised"] = new Dictionary<string, object?> { ["hyperparameters"] = hyperparameters } },
            ["trained_tokens"] = result?.TrainedTokens,
            ["error"] = job.Status is JobStatus.Failed &&
            job.Error is { } e ? new Dictionary<string, object?> { ["code"] = e.Code, ["message"] = e.Message, ["param"] = null } : null,
            ["seed"] = spec?.Seed,
            ["user_provided_suffix"] = spec?.Suffix,
            ["estimated_finish"] = job.Progress.EtaSeconds is { } eta ? DateTimeOffset.UtcNow.AddSeconds(eta).ToUnixTimeSeconds() : null,
            ["integrations"] = Array.Empty<object>(),
            ["metadata"] = null,
            ["progress"] = job.Progress.Percent,
        };
    }

    // A result another version of the server wrote, unreadable here, shows as none (the job's status still says it succeeded).
    private static FineTuningResult? ReadResult(QueuedJob job) => RegistryJson.TryDeserialize<FineTuningResult>(job.Result);

    /// <summary>An event in OpenAI's shape, or null for bookkeeping events callers need not see.</summary>
    public static Dictionary<string, object?>? Event(string jobId, JobEvent e)
    {
        using var document = JsonDocument.Parse(e.Data);
        var data = document.RootElement;
        string? message = e.Type switch
        {
            FineTuningJobHandler.MessageEventType or FineTuningJobHandler.YieldingEventType => data.GetProperty("message").GetString(),
            FineTuningJobHandler.MetricsEventType => $"Step {data.GetProperty("step").GetInt64()}: training loss={data.GetProperty("train_loss").GetDouble():F4}",
            "status" => data.TryGetProperty("status", out var status) ? $"Job status: {status.GetString()}" +
                (data.TryGetProperty("error", out var error) && error.ValueKind == JsonValueKind.Object ? $" ({error.GetProperty("message").GetString()})" : "") : null,
            _ => null,
        };
        if (message is null)
        {
            return null;
        }

        var failed = e.Type == "status" && message.Contains("failed", StringComparison.Ordinal);
        return new Dictionary<string, object?>
        {
            ["object"] = "fine_tuning.job.event",
            ["id"] = $"ftevent-{jobId[6..]}-{e.Seq}",
            ["created_at"] = e.At.ToUnixTimeSeconds(),
            ["level"] = failed ? "error" : "info",
            ["message"] = message,
            // Metrics, and whether training yields to serving ({"yielding", "serving_share"}), carry their data.
            ["data"] = e.Type is FineTuningJobHandler.MetricsEventType or FineTuningJobHandler.YieldingEventType ? data.Clone() : null,
            ["type"] = e.Type == FineTuningJobHandler.MetricsEventType ? "metrics" : "message",
        };
    }

    /// <summary>An epoch's checkpoint; its name calls it through the chat API once the job has succeeded (it is then a registered version).</summary>
    public static Dictionary<string, object?> Checkpoint(QueuedJob job, FineTuningSpec spec, JobEvent e, FineTuningEpochMetrics metrics)
    {
        return new Dictionary<string, object?>
        {
            ["object"] = "fine_tuning.job.checkpoint",
            ["id"] = $"ftckpt-{job.Id[6..]}-{metrics.Epoch}",
            ["created_at"] = e.At.ToUnixTimeSeconds(),
            // Named as its tenant calls it, like fine_tuned_model: "<target>:<job>-epoch-<n>".
            ["fine_tuned_model_checkpoint"] = $"{ModelKeys.RelativeTo(spec.TargetModel, job.Tenant)}:{FineTuningJobHandler.CheckpointAlias(job.Id, metrics.Epoch)}",
            ["fine_tuning_job_id"] = job.Id,
            ["step_number"] = metrics.Step,
            ["metrics"] = new Dictionary<string, object?>
            {
                ["step"] = metrics.Step,
                ["train_loss"] = metrics.TrainLoss,
                ["valid_loss"] = metrics.ValidLoss,
                ["full_valid_loss"] = metrics.ValidLoss,
            },
        };
    }
}
