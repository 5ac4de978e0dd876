using Maas.Core.Jobs;
using Maas.Core.Jobs.Queue;
using Maas.Storage.Jobs;
using Maas.Storage.Tests.Support;

namespace Maas.Storage.Tests;

/// <summary>A job stored with its first event: whatever a worker that claims it at once writes comes after that event.</summary>
public sealed class JobFirstEventTests
{
    [Theory]
    [OnSqlite]
    [OnPostgres]
    public async Task The_first_event_precedes_everything_a_worker_that_claims_the_job_at_once_writes(Db db)
    {
        await using var h = await RegistryHarness.CreateAsync(db);
        var queue = new SqlJobQueueStore(h.Store.Dialect);
        var handler = new WritesAnEvent(queue);
        var worker = new JobWorker(queue, h.Artifacts, [handler], Path.Combine(h.DataDir, "jobs"), new JobWorkerOptions());
        var now = DateTimeOffset.UtcNow;
        var id = "job_" + Guid.NewGuid().ToString("n")[..12];

        await queue.EnqueueAsync(new QueuedJob { Id = id, Kind = handler.Kind, Tenant = "default", Status = JobStatus.Queued, CreatedAt = now, UpdatedAt = now }, "message",
            "{\"message\":\"created\"}", CancellationToken.None);
        Assert.True(await worker.RunOnceAsync(CancellationToken.None));

        var events = await queue.ListEventsAsync(id, 0, 100, CancellationToken.None);
        Assert.Equal(1, events[0].Seq);
        Assert.Equal("message", events[0].Type);
        Assert.Contains("created", events[0].Data, StringComparison.Ordinal);
        Assert.Equal(events.Count, events.Select(e => e.Seq).Distinct().Count());
        Assert.Contains(events.Skip(1), e => e.Data.Contains("ran", StringComparison.Ordinal));
        Assert.Equal(JobStatus.Succeeded, (await queue.GetAsync(id, CancellationToken.None))!.Status);
    }

    [Theory]
    [OnSqlite]
    public async Task A_job_that_cannot_be_stored_leaves_no_event_behind(Db db)
    {
        await using var h = await RegistryHarness.CreateAsync(db);
        var queue = new SqlJobQueueStore(h.Store.Dialect);
        var now = DateTimeOffset.UtcNow;
        var job = new QueuedJob { Id = "job_" + Guid.NewGuid().ToString("n")[..12], Kind = "k", Tenant = "default", Status = JobStatus.Queued, CreatedAt = now, UpdatedAt = now };
        await queue.EnqueueAsync(job, "message", "{\"message\":\"first\"}", CancellationToken.None);

        // The same id again: the job's insert fails, and the second first event must not have been written either.
        await Assert.ThrowsAnyAsync<Exception>(() => queue.EnqueueAsync(job, "message", "{\"message\":\"second\"}", CancellationToken.None));
        var events = await queue.ListEventsAsync(job.Id, 0, 100, CancellationToken.None);
        Assert.Single(events);
        Assert.Contains("first", events[0].Data, StringComparison.Ordinal);
    }

    private sealed class WritesAnEvent(SqlJobQueueStore queue) : IJobHandler
    {
        public string Kind => "writes-an-event-test";

        public async Task<string> RunAsync(JobRun run)
        {
            await queue.AddEventAsync(run.Job.Id, "message", "{\"message\":\"ran\"}", DateTimeOffset.UtcNow, CancellationToken.None);
            return "{}";
        }
    }
}
