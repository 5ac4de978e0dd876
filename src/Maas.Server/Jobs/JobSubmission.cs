using System.Security.Cryptography;
using System.Text.Json;
using Maas.Core.Jobs;
using Maas.Core.Jobs.Queue;
using Maas.Core.Registry;
using Maas.Server.Training;

namespace Maas.Server.Jobs;

/// <summary>Puts a checked job spec on the worker queue: a fresh id, the "queued" event, and the local workers woken.</summary>
internal static class JobSubmission
{
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
