using Maas.Core.Jobs.Queue;
using Maas.Core.Registry;

namespace Maas.Core.Datasets;

/// <summary>
/// The unfinished (queued or running) jobs that read a dataset or one of its versions. Deleting it is refused while there
/// are some, with force too: a queued job would fail at its start for want of its data, and a running one would register
/// a version whose lineage names data that is gone. Force overrides only the lineage of finished work.
/// </summary>
public sealed class DatasetJobUses(IJobQueueStore jobs, IEnumerable<IJobHandler> handlers)
{
    /// <summary>The most unfinished jobs looked through (each tenant's are capped by Maas:Training:MaxUnfinishedJobsPerTenant).</summary>
    public const int MaxJobs = 10_000;

    private readonly Dictionary<string, IReadsDatasets> _readers = handlers.OfType<IReadsDatasets>().ToDictionary(r => r.Kind, StringComparer.Ordinal);

    /// <summary>The unfinished jobs reading <paramref name="dataset"/> (only <paramref name="version"/> of it, when given), oldest first, with the version each reads.</summary>
    public async Task<IReadOnlyList<(QueuedJob Job, int DatasetVersion)>> ListAsync(string dataset, int? version, CancellationToken cancellationToken)
    {
        if (_readers.Count == 0)
        {
            return [];
        }

        var unfinished = await jobs.ListUnfinishedAsync([.. _readers.Keys], MaxJobs, cancellationToken).ConfigureAwait(false);
        return unfinished
            .SelectMany(job => _readers[job.Kind].DatasetsOf(job.Spec)
                .Where(d => d.Name == dataset && (version is null || d.Version == version))
                .Select(d => d.Version)
                .Distinct()
                .Select(v => (job, v)))
            .ToArray();
    }

    /// <summary>
    /// Throws 409 <c>dataset_in_use</c> when an unfinished job reads the dataset (version): the jobs
    /// <paramref name="mayName"/> lets the caller see are named (<c>jobs</c>), the others (other tenants' jobs of a
    /// shared dataset) only counted (<c>unlisted_jobs</c>), so a refusal never tells one tenant another's job ids.
    /// </summary>
    public async Task RefuseIfReadAsync(string dataset, int? version, Func<QueuedJob, bool> mayName, CancellationToken cancellationToken)
    {
        var reading = await ListAsync(dataset, version, cancellationToken).ConfigureAwait(false);
        if (reading.Count == 0)
        {
            return;
        }

        var listed = reading.Where(r => mayName(r.Job)).ToArray();
        var named = listed.Select(r => $"{r.Job.Id} ({r.Job.Kind}, {JobStatusName(r.Job)})").Distinct().ToArray();
        var unlisted = reading.Select(r => r.Job).Where(j => !mayName(j)).Select(j => j.Id).Distinct().Count();
        var them = named.Length + unlisted == 1 ? "it" : "them";
        var advice = (named.Length, unlisted) switch
        {
            (0, _) => $"wait for {them} to end",
            (_, 0) => $"cancel {them} (DELETE /api/v1/jobs/{{id}}) or wait for {them} to end",
            _ => "cancel yours (DELETE /api/v1/jobs/{id}) and wait for the others to end",
        };
        throw RegistryException.Conflict(
            "dataset_in_use",
            $"{(version is { } v ? $"version {v} of dataset '{dataset}'" : $"dataset '{dataset}'")} is read by " +
            $"{(named.Length == 0 ? "" : named.Length == 1 ? "unfinished job " : "unfinished jobs ")}{InUseListing.Of(named, unlisted, "unfinished job", "unfinished jobs")}; " +
            $"{advice}, then delete it (force does not delete data a job is reading)",
            new Dictionary<string, object?>
            {
                ["jobs"] = listed.Select(r => new Dictionary<string, object?>
                {
                    ["id"] = r.Job.Id,
                    ["kind"] = r.Job.Kind,
                    ["status"] = JobStatusName(r.Job),
                    ["dataset_version"] = r.DatasetVersion
                }).ToArray(),
                ["unlisted_jobs"] = unlisted,
            });
    }

    private static string JobStatusName(QueuedJob job) => job.Status.ToString().ToLowerInvariant();
}
