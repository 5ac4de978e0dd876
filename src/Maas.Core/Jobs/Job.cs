namespace Maas.Core.Jobs;

/// <summary>A long-running operation (an import) that callers poll for progress.</summary>
public sealed record Job
{
    /// <summary>The random id.</summary>
    public required string Id { get; init; }

    /// <summary>What it does ("import").</summary>
    public required string Kind { get; init; }

    /// <summary>Its status.</summary>
    public JobStatus Status { get; init; }

    /// <summary>The model it works on.</summary>
    public string? Model { get; init; }

    /// <summary>The tenant the job belongs to (its model's owner): only that tenant and admins see it.</summary>
    public string? Tenant { get; init; }

    /// <summary>The version it works on.</summary>
    public int? Version { get; init; }

    /// <summary>Bytes done so far.</summary>
    public long BytesDone { get; init; }

    /// <summary>Bytes in all, when known.</summary>
    public long? BytesTotal { get; init; }

    /// <summary>What it is doing now, for people ("downloading", "validating", ...).</summary>
    public string? Stage { get; init; }

    /// <summary>Percent done (0-100), when the total is known; 100 once succeeded.</summary>
    public double? Progress => Status == JobStatus.Succeeded
        ? 100
        : BytesTotal is > 0 and var total ? Math.Round(Math.Min(100, 100.0 * BytesDone / total), 2) : null;

    /// <summary>Why it failed.</summary>
    public JobError? Error { get; init; }

    /// <summary>What it produced, as a small JSON-friendly map (e.g. the version number).</summary>
    public IReadOnlyDictionary<string, object?>? Result { get; init; }

    /// <summary>Who started it.</summary>
    public string CreatedBy { get; init; } = "";

    /// <summary>When it was started.</summary>
    public DateTimeOffset CreatedAt { get; init; }

    /// <summary>When it last changed.</summary>
    public DateTimeOffset UpdatedAt { get; init; }

    /// <summary>When it ended.</summary>
    public DateTimeOffset? FinishedAt { get; init; }

    /// <summary>True once a caller asked it to stop (live state of a job running on this server; not stored).</summary>
    public bool CancelRequested { get; init; }

    /// <summary>
    /// True while it commits its result, past its point of no return: a cancel is refused from then on (live state of a
    /// job running on this server; not stored).
    /// </summary>
    public bool Finishing { get; init; }

    /// <summary>True once it can change no more.</summary>
    public bool IsFinished => Status is JobStatus.Succeeded or JobStatus.Failed or JobStatus.Cancelled;
}
