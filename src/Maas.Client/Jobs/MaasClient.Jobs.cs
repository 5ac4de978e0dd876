using System.Globalization;
using Maas.Client.Jobs;

namespace Maas.Client;

/// <summary>Jobs: list, show, cancel, follow.</summary>
public sealed partial class MaasClient
{
    /// <summary>The newest jobs.</summary>
    public Task<JobList> ListJobsAsync(int? limit = null, CancellationToken cancellationToken = default) => ListJobsAsync(limit, null, cancellationToken);

    /// <summary>The newest jobs of one <paramref name="kind"/> (<c>import</c>, <c>training</c>, <c>optimization</c>, <c>fine-tune</c>; null: all).</summary>
    public Task<JobList> ListJobsAsync(int? limit, string? kind, CancellationToken cancellationToken = default) =>
        SendAsync<JobList>(HttpMethod.Get, "api/v1/jobs" + Query(("limit", limit?.ToString(CultureInfo.InvariantCulture)), ("kind", kind)), null, cancellationToken);

    /// <summary>A worker-run job's events (training epochs, trials, metrics, logs), oldest first, after <paramref name="after"/>.</summary>
    public Task<JobEventPage> ListJobEventsAsync(string id, long after = 0, int? limit = null, CancellationToken cancellationToken = default) =>
        SendAsync<JobEventPage>(HttpMethod.Get, $"api/v1/jobs/{Escape(id)}/events" + Query(("after", after.ToString(CultureInfo.InvariantCulture)), ("limit", limit?.ToString(CultureInfo.InvariantCulture))), null, cancellationToken);

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
