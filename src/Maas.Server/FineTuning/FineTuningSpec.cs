using Maas.Core.Jobs.Queue;
using Maas.Core.Registry;

namespace Maas.Server.FineTuning;

/// <summary>What a fine-tuning job was asked to do, resolved and checked when it was created (the queued job's spec).</summary>
internal sealed record FineTuningSpec
{
    /// <summary>The queued-job kind that runs it.</summary>
    public const string Kind = "fine-tune";

    /// <summary>The model field as the caller gave it.</summary>
    public required string Model { get; init; }

    /// <summary>The base model's registry key (<c>name</c>, or <c>owner/name</c> outside the default tenant).</summary>
    public required string BaseModel { get; init; }

    /// <summary>The base version (pinned at creation, so a later alias move does not change the job).</summary>
    public required int BaseVersion { get; init; }

    public required string TrainingFile { get; init; }

    public required string TrainingSha256 { get; init; }

    public string? ValidationFile { get; init; }

    public string? ValidationSha256 { get; init; }

    /// <summary>Epochs (resolved from "auto").</summary>
    public required int Epochs { get; init; }

    /// <summary>Chats per optimizer step as asked (exactly that many per step); null for "auto" (as many as fit one window per step).</summary>
    public int? BatchSize { get; init; }

    /// <summary>How many of the last transformer layers train; null ("auto") trains every layer.</summary>
    public int? TrainedLayers { get; init; }

    /// <summary>Multiplier of the configured learning rate (resolved from "auto": 1).</summary>
    public required double LearningRateMultiplier { get; init; }

    /// <summary>AdamW's learning rate (multiplier times Maas:FineTuning:LearningRate at creation).</summary>
    public required double LearningRate { get; init; }

    public string? Suffix { get; init; }

    public required int Seed { get; init; }

    /// <summary>The key of the registry model the result goes into (owned by the job's tenant; created by the first job that succeeds).</summary>
    public required string TargetModel { get; init; }

    /// <summary>Tokens per packed window.</summary>
    public required int Window { get; init; }

    public string CreatedBy { get; init; } = "";

    /// <summary>
    /// The job's spec, or null where this version cannot read it (another version of the server wrote it): such a job is
    /// shown with what the queue knows instead of failing the whole list.
    /// </summary>
    public static FineTuningSpec? Read(QueuedJob job) => RegistryJson.TryDeserialize<FineTuningSpec>(job.Spec);
}
