using System.Security.Cryptography;
using System.Text.Json;
using Maas.Core.Jobs;
using Maas.Core.Jobs.Queue;
using Maas.Core.Registry;
using Maas.Core.Training;
using Maas.Server.Errors;
using Maas.Server.Training;

namespace Maas.Server.Jobs;

/// <summary>Puts a checked job spec on the worker queue: a fresh id, the "queued" event, and the local workers woken.</summary>
internal static class JobSubmission
{
    /// <summary>The error code of a submission over Maas:Training:MaxUnfinishedJobsPerTenant (429, with <c>limit</c>).</summary>
    public const string TooManyJobsCode = "too_many_jobs";

    // The kinds a caller submits; a search's trials are its parent's work and do not count again.
    private static readonly string[] SubmittedKinds = ["training", "optimization", "fine-tune", "evaluation"];

    /// <summary>The per-tenant limit of <paramref name="options"/>, over the kinds a caller submits.</summary>
    public static UnfinishedJobLimit LimitOf(TrainingOptions options) => new(SubmittedKinds, options.MaxUnfinishedJobsPerTenant);

    /// <summary>
    /// 429 too_many_jobs (with the limit) when <paramref name="tenant"/> already has Maas:Training:MaxUnfinishedJobsPerTenant
    /// (of <paramref name="options"/>) jobs queued or running in <paramref name="jobs"/>: the early answer, before a
    /// submission changes anything (training creates its model). The limit itself holds at the enqueue
    /// (<see cref="EnqueueAsync(IJobQueueStore, TrainingOptions, QueuedJob, string, string, CancellationToken)"/>).
    /// </summary>
    public static async Task CheckRoomAsync(IJobQueueStore jobs, TrainingOptions options, string tenant, CancellationToken cancellationToken)
    {
        var limit = LimitOf(options);
        var unfinished = await jobs.CountUnfinishedAsync(tenant, limit.Kinds, cancellationToken);
        if (unfinished >= limit.Limit)
        {
            throw TooManyJobs(tenant, unfinished, limit.Limit);
        }
    }

    /// <summary>
    /// Queues a job of <paramref name="kind"/> with its "queued" event and wakes this server's workers; 429 too_many_jobs
    /// when its tenant has no room left (counted with the insert, on every server of the database).
    /// </summary>
    public static async Task<QueuedJob> EnqueueAsync(
        IJobQueueStore jobs, TrainingWorkers workers, TrainingOptions options, string idPrefix, string kind, string tenant, object spec, string createdBy, DateTimeOffset now,
        CancellationToken cancellationToken)
    {
        var job = new QueuedJob
        {
            Id = idPrefix + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(10)),
            Kind = kind,
            Tenant = tenant,
            Status = JobStatus.Queued,
            Spec = JsonSerializer.Serialize(spec, RegistryJson.Options),
            CreatedBy = createdBy,
            CreatedAt = now,
            UpdatedAt = now,
        };
        await EnqueueAsync(jobs, options, job, "status", JsonSerializer.Serialize(new { status = "queued" }, RegistryJson.Options), cancellationToken);
        workers.Nudge();
        return job;
    }

    /// <summary>
    /// Stores <paramref name="job"/> with its first event if its tenant has room under Maas:Training:MaxUnfinishedJobsPerTenant
    /// (the store counts and inserts in one step, so submissions at once through any servers never pass the limit
    /// together); 429 too_many_jobs, nothing stored, when it has none.
    /// </summary>
    public static async Task EnqueueAsync(IJobQueueStore jobs, TrainingOptions options, QueuedJob job, string firstEventType, string firstEventData,
        CancellationToken cancellationToken)
    {
        var limit = LimitOf(options);
        var outcome = await jobs.TryEnqueueAsync(job, firstEventType, firstEventData, limit, cancellationToken);
        if (!outcome.Enqueued)
        {
            throw TooManyJobs(job.Tenant, outcome.Unfinished, limit.Limit);
        }
    }

    private static ApiException TooManyJobs(string tenant, int unfinished, int limit) => new(
        StatusCodes.Status429TooManyRequests,
        TooManyJobsCode,
        $"tenant '{RegistryNames.Shorten(tenant)}' already has {unfinished} training, fine-tuning and optimisation jobs queued or running, the limit of " +
        $"Maas:Training:MaxUnfinishedJobsPerTenant ({limit}); submit again when one has ended, or cancel one",
        new Dictionary<string, object?> { ["limit"] = limit });
}
