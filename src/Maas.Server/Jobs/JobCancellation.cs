using Maas.Core.Jobs;
using Maas.Core.Jobs.Queue;
using Maas.Core.Registry;
using Maas.Server.Errors;

namespace Maas.Server.Jobs;

/// <summary>The one rule of every cancel route (/api/v1/jobs, /api/v1/training/jobs, /v1/fine_tuning/jobs) for a job that cannot be cancelled again.</summary>
internal static class JobCancellation
{
    /// <summary>
    /// Why a cancel of <paramref name="job"/> is refused (answered as <c>job_finished</c>), or null when it may be
    /// cancelled: a job that ended, one past its point of no return (registering its result: a cancel now would be a
    /// promise the job cannot keep), or one whose cancel was already asked for (it ends cancelled once its worker
    /// stops; a second request would change nothing but add another cancel event).
    /// </summary>
    public static string? Refusal(QueuedJob job) =>
        job.IsFinished ? $"job '{RegistryNames.Shorten(job.Id)}' already ended ({job.Status.ToString().ToLowerInvariant()})"
        : job.Finishing ? $"job '{RegistryNames.Shorten(job.Id)}' is already registering its result, too late to cancel: it ends succeeded unless registering fails"
        : job.CancelRequested ? $"job '{RegistryNames.Shorten(job.Id)}' is already being cancelled: it ends cancelled when its worker stops"
        : null;

    /// <summary>The API's answer to a refused cancel: 409 <c>job_finished</c>, with the job's <c>status</c> as it is now.</summary>
    public static Exception Conflict(QueuedJob job, string refusal) =>
        new ApiException(StatusCodes.Status409Conflict, "job_finished", refusal, new Dictionary<string, object?> { ["status"] = job.Status.ToString().ToLowerInvariant() });

    /// <summary>
    /// Cancels <paramref name="job"/> unless <see cref="Refusal"/> refuses it, and returns the job as it is afterwards;
    /// the caller then logs its one cancel event. Of two cancels at the same instant (both read the job before either
    /// changed it) only the one whose request changed the row gets here; the other is refused by
    /// <paramref name="refused"/> (given the job as it is and <see cref="Refusal"/>'s reason), as it would have been had it come a moment later.
    /// </summary>
    public static async Task<QueuedJob> RequestAsync(
        IJobQueueStore store, QueuedJob job, DateTimeOffset now, Func<QueuedJob, string, Exception> refused, CancellationToken cancellationToken)
    {
        if (Refusal(job) is { } refusal)
        {
            throw refused(job, refusal);
        }

        var outcome = await store.RequestCancelAsync(job.Id, now, cancellationToken);
        if (outcome is not { Recorded: true })
        {
            // Cancelled (or ended, or deleted) between the read and the change: refused as it would be now.
            var current = outcome?.Job ?? job with { Status = JobStatus.Cancelled };
            throw refused(current, Refusal(current) ?? Refusal(current with { CancelRequested = true })!);
        }

        return outcome.Job;
    }

    /// <summary>
    /// Cancels an import (a job of <see cref="JobRunner"/>) by the same rule: refused with 409 <c>job_finished</c> and
    /// the job's <c>status</c> once it committed its version or is committing it (past its point of no return, where
    /// it answers <c>running</c> and ends succeeded unless committing fails), once it ended (failed, say), or while an
    /// earlier cancel is stopping it; otherwise the cancel is recorded and kept: this waits for the import to stop
    /// and returns it as it ended, <c>cancelled</c>, with no version registered and its staged files removed.
    /// </summary>
    public static async Task<Job> CancelImportAsync(JobRunner jobs, Job job, CancellationToken cancellationToken)
    {
        var name = RegistryNames.Shorten(job.Id);
        var cancel = jobs.Cancel(job.Id);
        var current = cancel.Job ?? await jobs.GetAsync(job.Id, cancellationToken) ?? job;
        var refusal = cancel.Outcome switch
        {
            JobCancelOutcome.Requested => null,
            JobCancelOutcome.Finishing => $"job '{name}' is already registering its result, too late to cancel: it ends succeeded unless registering fails",
            JobCancelOutcome.AlreadyRequested => $"job '{name}' is already being cancelled: it ends cancelled once it stops",
            _ => $"job '{name}' already ended ({Status(current)})",
        };
        if (refusal is not null)
        {
            throw new ApiException(StatusCodes.Status409Conflict, "job_finished", refusal, new Dictionary<string, object?> { ["status"] = Status(current) });
        }

        await jobs.WaitAsync(job.Id);
        return await jobs.GetAsync(job.Id, cancellationToken) ?? current;
    }

    private static string Status(Job job) => job.Status.ToString().ToLowerInvariant();
}
