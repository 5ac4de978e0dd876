using System.Text.Json;
using System.Text.Json.Serialization;

namespace Maas.Client.FineTuning;

/// <summary>An uploaded file (OpenAI's file object).</summary>
public sealed record FileInfoObject
{
    public required string Id { get; init; }

    public long Bytes { get; init; }

    /// <summary>Unix seconds.</summary>
    public long CreatedAt { get; init; }

    public string? Filename { get; init; }

    public string? Purpose { get; init; }

    public string? Status { get; init; }
}

/// <summary>A fine-tuning job to create: POST /v1/fine_tuning/jobs.</summary>
public sealed record FineTuningRequest
{
    /// <summary>The base: a GGUF LLM of the registry (<c>name</c>, <c>name:alias</c>).</summary>
    public required string Model { get; init; }

    public required string TrainingFile { get; init; }

    public string? ValidationFile { get; init; }

    /// <summary><c>n_epochs</c>, <c>batch_size</c>, <c>learning_rate_multiplier</c>: numbers or <c>"auto"</c>.</summary>
    public Dictionary<string, JsonElement>? Hyperparameters { get; init; }

    public string? Suffix { get; init; }

    public int? Seed { get; init; }
}

/// <summary>A fine-tuning job (OpenAI's fine_tuning.job, with MaaS's <c>progress</c>).</summary>
public sealed record FineTuningJobInfo
{
    public required string Id { get; init; }

    public string? Model { get; init; }

    /// <summary><c>queued</c>, <c>validating_files</c>, <c>running</c>, <c>succeeded</c>, <c>failed</c> or <c>cancelled</c>.</summary>
    public required string Status { get; init; }

    /// <summary>The registry reference to chat with once the job succeeded.</summary>
    public string? FineTunedModel { get; init; }

    public string? TrainingFile { get; init; }

    public string? ValidationFile { get; init; }

    public JsonElement? Hyperparameters { get; init; }

    public long? TrainedTokens { get; init; }

    public FineTuningError? Error { get; init; }

    public long? Seed { get; init; }

    public long CreatedAt { get; init; }

    public long? FinishedAt { get; init; }

    public double? Progress { get; init; }

    /// <summary>Fields this client does not know.</summary>
    [JsonExtensionData]
    public Dictionary<string, JsonElement>? Extra { get; init; }

    /// <summary>True once the job ended.</summary>
    [JsonIgnore]
    public bool Finished => Status is "succeeded" or "failed" or "cancelled";
}

/// <summary>Why a fine-tuning job failed.</summary>
public sealed record FineTuningError(string? Code, string? Message, string? Param);

/// <summary>A fine-tuning job's event: a message, or per epoch a <c>metrics</c> event with the losses in <c>data</c>.</summary>
public sealed record FineTuningEvent(string Id, long CreatedAt, string? Level, string? Message, string? Type, JsonElement? Data);

/// <summary>A page of OpenAI's list shape.</summary>
public sealed record OpenAiList<T>(IReadOnlyList<T> Data, bool HasMore);
