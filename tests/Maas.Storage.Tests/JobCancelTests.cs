using Maas.Core.Jobs;
using Maas.Core.Jobs.Queue;
using Maas.Storage.Jobs;
using Maas.Storage.Tests.Support;

namespace Maas.Storage.Tests;

/// <summary>
/// A cancel asked for in the process whose worker runs the job reaches the job at once, not at the next heartbeat; of
/// many cancels of one job at the same instant, exactly one is recorded.
/// </summary>
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
        Assert.True(asked is { Recorded: true, Job.CancelRequested: true });
        Assert.True(await running);

        var job = await queue.GetAsync(id, CancellationToken.None);
        Assert.True(job!.Status == JobStatus.Cancelled, $"{job.Status}: {job.Error?.Code} {job.Error?.Message}");
        Assert.Equal("cancelled", job.Error?.Code);
    }

    [Theory]
    [OnSqlite]
    [OnPostgres]
    public async Task Of_cancels_of_one_job_at_the_same_instant_exactly_one_is_recorded_whether_it_is_queued_or_running(Db db)
    {
        await using var h = await RegistryHarness.CreateAsync(db);
        var queue = new SqlJobQueueStore(h.Store.Dialect);
        var now = DateTimeOffset.UtcNow;
        const string Kind = "cancelled-at-once-test";
        foreach (var claimed in new[] { false, true })
        {
            var id = "job_" + Guid.NewGuid().ToString("n")[..12];
            await queue.EnqueueAsync(new QueuedJob { Id = id, Kind = Kind, Tenant = "default", Status = JobStatus.Queued, CreatedAt = now, UpdatedAt = now }, CancellationToken.None);
            if (claimed)
            {
                Assert.Equal(id, (await queue.ClaimAsync([Kind], "remote-worker", now.AddHours(1), now, CancellationToken.None))?.Id);
            }

            var signalled = 0;
            void Count(string job) => Interlocked.Add(ref signalled, job == id ? 1 : 0);
            queue.CancelRequested += Count;
            var outcomes = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => Task.Run(() => queue.RequestCancelAsync(id, now, CancellationToken.None))));
            queue.CancelRequested -= Count;

            // Each saw the job cancelled (or being cancelled); only one changed it, and a worker here heard of it once.
            Assert.All(outcomes, o => Assert.True(o!.Job.CancelRequested && o.Job.Status == (claimed ? JobStatus.Running : JobStatus.Cancelled)));
            Assert.Single(outcomes, o => o!.Recorded);
            Assert.Equal(claimed ? 1 : 0, signalled);
            Assert.False((await queue.RequestCancelAsync(id, now, CancellationToken.None))!.Recorded);
        }

        Assert.Null(await queue.RequestCancelAsync("job_missing", now, CancellationToken.None));
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
