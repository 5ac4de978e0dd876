using System.Globalization;
using System.Runtime.CompilerServices;
using Maas.Client.Jobs;

namespace Maas.Client;

/// <summary>Jobs: list, show, cancel, follow.</summary>
public sealed partial class MaasClient
{
    /// <summary>The newest jobs (the first page; <see cref="ListJobsBeforeAsync"/> reads the pages after it).</summary>
    public Task<JobList> ListJobsAsync(int? limit = null, CancellationToken cancellationToken = default) => ListJobsAsync(limit, null, cancellationToken);

    /// <summary>The newest jobs of one <paramref name="kind"/> (<c>import</c>, <c>training</c>, <c>optimization</c>, <c>fine-tune</c>; null: all).</summary>
    public Task<JobList> ListJobsAsync(int? limit, string? kind, CancellationToken cancellationToken = default) =>
        SendAsync<JobList>(HttpMethod.Get, "api/v1/jobs" + Query(("limit", limit?.ToString(CultureInfo.InvariantCulture)), ("kind", kind)), null, cancellationToken);

    /// <summary>
    /// The page of jobs after <paramref name="before"/> (the <see cref="JobList.NextBefore"/> of the page before it; null:
    /// from the newest), newest first: at most <paramref name="limit"/> (1 to 1000, default 100), of one
    /// <paramref name="kind"/> when given. Jobs created meanwhile do not move later pages.
    /// </summary>
    public Task<JobList> ListJobsBeforeAsync(string? before, int? limit = null, string? kind = null, CancellationToken cancellationToken = default) =>
        SendAsync<JobList>(
            HttpMethod.Get,
            "api/v1/jobs" + Query(("limit", limit?.ToString(CultureInfo.InvariantCulture)), ("kind", kind), ("before", before)),
            null,
            cancellationToken);

    /// <summary>
    /// Every job (of one <paramref name="kind"/> when given), newest first, read a page of <paramref name="pageSize"/>
    /// (1 to 1000) at a time as the enumeration goes on; from after <paramref name="before"/> when given.
    /// </summary>
    public async IAsyncEnumerable<JobInfo> ListAllJobsAsync(
        string? kind = null,
        string? before = null,
        int pageSize = 1000,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(pageSize, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(pageSize, 1000);
        var next = before;
        do
        {
            var page = await ListJobsBeforeAsync(next, pageSize, kind, cancellationToken);
            foreach (var job in page.Jobs)
            {
                yield return job;
            }

            next = page.NextBefore;
        }
        while (next is not null);
    }

    /// <summary>A worker-run job's events (training epochs, trials, metrics, logs), oldest first, after <paramref name="after"/>.</summary>
    public Task<JobEventPage> ListJobEventsAsync(string id, long after = 0, int? limit = null, CancellationToken cancellationToken = default) =>
        SendAsync<JobEventPage>(HttpMethod.Get, $"api/v1/jobs/{Escape(id)}/events" +
        Query(("after", after.ToString(CultureInfo.InvariantCulture)), ("limit", limit?.ToString(CultureInfo.InvariantCulture))), null, cancellationToken);

    /// <summary>One job.</summary>
    public Task<JobInfo> GetJobAsync(string id, CancellationToken cancellationToken = default) =>
        SendAsync<JobInfo>(HttpMethod.Get, $"api/v1/jobs/{Escape(id)}", null, cancellationToken);

    /// <summary>Cancels a running job (409 <c>job_finished</c> when it already ended).</summary>
    public Task<JobInfo> CancelJobAsync(string id, CancellationToken cancellationToken = default) =>
        SendAsync<JobInfo>(HttpMethod.Delete, $"api/v1/jobs/{Escape(id)}", null, cancellationToken);

    /// <summary>Polls a job until it ends, reporting each state to <paramref name="progress"/>; returns the last state.</summary>
    public async Task<JobInfo> WaitForJobAsync(string id, IProgress<JobInfo>? progress = null, TimeSpan? pollInterval = null, CancellationToken cancellationToken = default)
    {
        var interval = pollInterval ?? TimeSpan.FromMilliseconds(250);
        while (true)
        {
            var job = await GetJobAsync(id, cancellationToken);
            progress?.Report(job);
            if (job.Finished)
            {
                return job;
            }

            await Task.Delay(interval, cancellationToken);
        }
    }
}
