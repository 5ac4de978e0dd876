using Maas.Core.Jobs.Queue;
using Maas.Core.Registry;

namespace Maas.Server.Jobs;

/// <summary>The one rule of every cancel route (/api/v1/jobs, /api/v1/training/jobs, /v1/fine_tuning/jobs) for a job that cannot be cancelled again.</summary>
internal static class JobCancellation
{
    /// <summary>
    /// Why a cancel of <paramref name="job"/> is refused (answered as <c>job_finished</c>), or null when it may be
    /// cancelled: a job that ended, or one whose cancel was already asked for (it ends cancelled once its worker
    /// stops; a second request would change nothing but add another cancel event).
    /// </summary>
    public static string? Refusal(QueuedJob job) =>
        job.IsFinished ? $"job '{RegistryNames.Shorten(job.Id)}' already ended ({job.Status.ToString().ToLowerInvariant()})"
        : job.CancelRequested ? $"job '{RegistryNames.Shorten(job.Id)}' is already being cancelled: it ends cancelled when its worker stops"
        : null;
}
