using Maas.Core.Jobs;
using Maas.Core.Jobs.Queue;
using Maas.Storage.Jobs;
using Maas.Storage.Tests.Support;

namespace Maas.Storage.Tests;

/// <summary>A cancel asked for in the process whose worker runs the job reaches the job at once, not at the next heartbeat.</summary>
public sealed class JobCancelTests
{
    [Theory]
    [OnSqlite]
    [OnPostgres]
    public async Task A_cancel_asked_in_the_workers_process_stops_the_job_without_waiting_for_a_heartbeat(Db db)
    {
        await using var h = await RegistryHarness.CreateAsync(db);
        var queue = new SqlJobQueueStore(h.Store.Dialect);
        var handler = new WaitsForCancellation();

        // An hour's lease: the heartbeat, the only other way the worker learns of the request, beats every 20 minutes.
        var worker = new JobWorker(queue, h.Artifacts, [handler], Path.Combine(h.DataDir, "jobs"), new JobWorkerOptions { Lease = TimeSpan.FromHours(1) });
        var now = DateTimeOffset.UtcNow;
        var id = "job_" + Guid.NewGuid().ToString("n")[..12];
        await queue.EnqueueAsync(new QueuedJob { Id = id, Kind = handler.Kind, Tenant = "default", Status = JobStatus.Queued, CreatedAt = now, UpdatedAt = now }, CancellationToken.None);
        var running = worker.RunOnceAsync(CancellationToken.None);
        await handler.Started.Task.WaitAsync(TimeSpan.FromMinutes(1));

        var asked = await queue.RequestCancelAsync(id, DateTimeOffset.UtcNow, CancellationToken.None);
        Assert.True(asked!.CancelRequested);
        Assert.True(await running);

        var job = await queue.GetAsync(id, CancellationToken.None);
        Assert.True(job!.Status == JobStatus.Cancelled, $"{job.Status}: {job.Error?.Code} {job.Error?.Message}");
        Assert.Equal("cancelled", job.Error?.Code);
    }

    private sealed class WaitsForCancellation : IJobHandler
    {
        public TaskCompletionSource Started { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public string Kind => "waits-for-cancellation-test";

        public async Task<string> RunAsync(JobRun run)
        {
            Started.TrySetResult();

            // Only the run's token ends this; the ceiling (far below the heartbeat) fails the job when it never fires.
            var cancelled = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            using (run.CancellationToken.Register(() => cancelled.TrySetResult()))
            {
                await cancelled.Task.WaitAsync(TimeSpan.FromMinutes(2));
            }

            throw new OperationCanceledException(run.CancellationToken);
        }
    }
}
