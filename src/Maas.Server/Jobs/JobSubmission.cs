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
    // The kinds a caller submits; a search's trials are its parent's work and do not count again.
    private static readonly string[] SubmittedKinds = ["training", "optimization", "fine-tune"];

    /// <summary>
    /// 429 too_many_jobs (with the limit) when <paramref name="tenant"/> already has Maas:Training:MaxUnfinishedJobsPerTenant
    /// (of <paramref name="options"/>) jobs queued or running in <paramref name="jobs"/>; checked before a submission
    /// changes anything (training creates its model).
    /// </summary>
    public static async Task CheckRoomAsync(IJobQueueStore jobs, TrainingOptions options, string tenant, CancellationToken cancellationToken)
    {
        var limit = options.MaxUnfinishedJobsPerTenant;
        var unfinished = await jobs.CountUnfinishedAsync(tenant, SubmittedKinds, cancellationToken);
        if (unfinished >= limit)
        {
            throw new ApiException(
                StatusCodes.Status429TooManyRequests,
                "too_many_jobs",
                $"tenant '{RegistryNames.Shorten(tenant)}' already has {unfinished} training, fine-tuning and optimisation jobs queued or running, the limit of Maas:Training:MaxUnfinishedJobsPerTenant ({limit}); submit again when one has ended, or cancel one",
                new Dictionary<string, object?> { ["limit"] = limit });
        }
    }

    public static async Task<QueuedJob> EnqueueAsync(
        IJobQueueStore jobs, TrainingWorkers workers, string idPrefix, string kind, string tenant, object spec, string createdBy, DateTimeOffset now, CancellationToken cancellationToken)
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
        await jobs.EnqueueAsync(job, cancellationToken);
        await jobs.AddEventAsync(job.Id, "status", JsonSerializer.Serialize(new { status = "queued" }, RegistryJson.Options), now, CancellationToken.None);
        workers.Nudge();
        return job;
    }
}
