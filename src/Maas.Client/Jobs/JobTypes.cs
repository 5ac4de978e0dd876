using System.Text.Json;
using System.Text.Json.Serialization;

namespace Maas.Client.Jobs;

/// <summary>A background job (an import, or a worker-run training, optimisation or fine-tuning job) with its progress, error and result.</summary>
public sealed record JobInfo
{
    public required string Id { get; init; }

    public string? Kind { get; init; }

    /// <summary><c>queued</c>, <c>running</c>, <c>succeeded</c>, <c>failed</c> or <c>cancelled</c>.</summary>
    public required string Status { get; init; }

    public string? Model { get; init; }

    public int? Version { get; init; }

    /// <summary>Percent done, when the size is known.</summary>
    public double? Progress { get; init; }

    /// <summary>Bytes an import has downloaded; null for a worker-run job, which counts no bytes (its <see cref="Progress"/> is in percent).</summary>
    public long? BytesDone { get; init; }

    public long? BytesTotal { get; init; }

    public string? Stage { get; init; }

    public JobErrorInfo? Error { get; init; }

    public JsonElement? Result { get; init; }

    /// <summary>True once a cancel was asked for (an import: while it runs on the server asked).</summary>
    public bool CancelRequested { get; init; }

    /// <summary>True while the job commits its result: a cancel is refused from then on.</summary>
    public bool Finishing { get; init; }

    public string? CreatedBy { get; init; }

    public DateTimeOffset? CreatedAt { get; init; }

    public DateTimeOffset? UpdatedAt { get; init; }

    public DateTimeOffset? FinishedAt { get; init; }

    public string? Url { get; init; }

    /// <summary>Fields this client does not know.</summary>
    [JsonExtensionData]
    public Dictionary<string, JsonElement>? Extra { get; init; }

    /// <summary>True once the job ended (succeeded, failed or cancelled).</summary>
    [JsonIgnore]
    public bool Finished => Status is "succeeded" or "failed" or "cancelled";
}

/// <summary>Why a job failed.</summary>
public sealed record JobErrorInfo(string Code, string Message);

/// <summary>A page of jobs, newest first; <see cref="NextBefore"/> asks for the page after it.</summary>
public sealed record JobList(IReadOnlyList<JobInfo> Jobs)
{
    /// <summary>Where the next (older) page starts, for <c>ListJobsBeforeAsync</c>; null when no job follows.</summary>
    public string? NextBefore { get; init; }
}

/// <summary>One event of a worker-run job: <c>status</c>, <c>progress</c>, <c>epoch</c>, <c>trial</c>, <c>metrics</c>, <c>log</c>, ...</summary>
public sealed record JobEvent(long Seq, DateTimeOffset At, string Type, JsonElement Data);

/// <summary>A page of a job's events; <see cref="NextAfter"/> continues it.</summary>
public sealed record JobEventPage(IReadOnlyList<JobEvent> Events, long NextAfter, bool Finished);
