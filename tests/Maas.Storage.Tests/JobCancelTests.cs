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
        await queue.EnqueueAsync(new QueuedJob { Id = id, Kind = handler.Kind, Tenant = "default", Status = JobStatus.Queued, CreatedAt = now, UpdatedAt = now },
            CancellationToken.None);
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
            await queue.EnqueueAsync(new QueuedJob { Id = id, Kind = Kind, Tenant = "default", Status = JobStatus.Queued, CreatedAt = now, UpdatedAt = now },
                CancellationToken.None);
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

    // The race a cancel could lose: it arrives after the job last looked at its token, while the job registers its
    // result. The handler below ignores its token from the moment it is told to (it has "passed its last check") and
    // goes on only when the test lets it, so the cancel lands exactly in that window, every time.
    [Theory]
    [OnSqlite]
    [OnPostgres]
    public async Task A_cancel_after_the_jobs_last_check_but_before_it_finished_ends_it_cancelled_not_succeeded(Db db)
    {
        await using var h = await RegistryHarness.CreateAsync(db);
        var queue = new SqlJobQueueStore(h.Store.Dialect);
        foreach (var declaresPointOfNoReturn in new[] { false, true })
        {
            var handler = new FinishesWhenReleased(declaresPointOfNoReturn, finishingFirst: false);
            var worker = new JobWorker(queue, h.Artifacts, [handler], Path.Combine(h.DataDir, "jobs"), new JobWorkerOptions { Lease = TimeSpan.FromHours(1) });
            var id = await EnqueueAsync(queue, handler.Kind);
            var running = worker.RunOnceAsync(CancellationToken.None);
            await handler.Waiting.Task.WaitAsync(TimeSpan.FromMinutes(1));

            var asked = await queue.RequestCancelAsync(id, DateTimeOffset.UtcNow, CancellationToken.None);
            Assert.True(asked is { Recorded: true });
            handler.Release.SetResult();
            Assert.True(await running);

            // It was answered "being cancelled", so it ends cancelled, and a handler that registers after its point of no
            // return registered nothing (one that declares none registers nothing by definition: its result is dropped).
            var job = await queue.GetAsync(id, CancellationToken.None);
            Assert.True(job!.Status == JobStatus.Cancelled, $"{job.Status}: {job.Error?.Code} {job.Error?.Message}");
            Assert.Null(job.Result);
            Assert.True(!declaresPointOfNoReturn || !handler.Registered);
        }
    }

    [Theory]
    [OnSqlite]
    [OnPostgres]
    public async Task A_cancel_after_the_jobs_point_of_no_return_is_not_recorded_and_the_job_ends_succeeded(Db db)
    {
        await using var h = await RegistryHarness.CreateAsync(db);
        var queue = new SqlJobQueueStore(h.Store.Dialect);
        var handler = new FinishesWhenReleased(declaresPointOfNoReturn: true, finishingFirst: true);
        var worker = new JobWorker(queue, h.Artifacts, [handler], Path.Combine(h.DataDir, "jobs"), new JobWorkerOptions { Lease = TimeSpan.FromHours(1) });
        var id = await EnqueueAsync(queue, handler.Kind);
        var running = worker.RunOnceAsync(CancellationToken.None);
        await handler.Waiting.Task.WaitAsync(TimeSpan.FromMinutes(1));

        var asked = await queue.RequestCancelAsync(id, DateTimeOffset.UtcNow, CancellationToken.None);
        Assert.True(asked is { Recorded: false, Job: { Status: JobStatus.Running, Finishing: true, CancelRequested: false } });
        handler.Release.SetResult();
        Assert.True(await running);

        var job = await queue.GetAsync(id, CancellationToken.None);
        Assert.True(job!.Status == JobStatus.Succeeded, $"{job.Status}: {job.Error?.Code} {job.Error?.Message}");
        Assert.True(handler.Registered);
        Assert.False((await queue.RequestCancelAsync(id, DateTimeOffset.UtcNow, CancellationToken.None))!.Recorded);
    }

    private static async Task<string> EnqueueAsync(SqlJobQueueStore queue, string kind)
    {
        var now = DateTimeOffset.UtcNow;
        var id = "job_" + Guid.NewGuid().ToString("n")[..12];
        await queue.EnqueueAsync(new QueuedJob { Id = id, Kind = kind, Tenant = "default", Status = JobStatus.Queued, CreatedAt = now, UpdatedAt = now }, CancellationToken.None);
        return id;
    }

    // Waits for the test, deaf to its token, then "registers" its result: after its point of no return when it declares
    // one (before or after waiting, as told), else without one, as a job that registers nothing would.
    private sealed class FinishesWhenReleased(bool declaresPointOfNoReturn, bool finishingFirst) : IJobHandler
    {
        public TaskCompletionSource Waiting { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public TaskCompletionSource Release { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public bool Registered { get; private set; }

        public string Kind { get; } = "finishes-when-released-" + Guid.NewGuid().ToString("n")[..8];

        public async Task<string> RunAsync(JobRun run)
        {
            if (declaresPointOfNoReturn && finishingFirst)
            {
                await run.BeginFinishingAsync();
            }

            Waiting.TrySetResult();
            await Release.Task.WaitAsync(TimeSpan.FromMinutes(2));
            if (declaresPointOfNoReturn && !finishingFirst)
            {
                await run.BeginFinishingAsync();
            }

            Registered = true;
            return """{"registered": true}""";
        }
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
