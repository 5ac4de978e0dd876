using Maas.Core.Jobs;
using Maas.Core.Jobs.Queue;
using Maas.Storage.Jobs;
using Maas.Storage.Tests.Support;

namespace Maas.Storage.Tests;

/// <summary>A job that succeeded shows 100% with what it last reported; one that failed shows where it stopped.</summary>
public sealed class JobProgressTests
{
    [Theory]
    [OnSqlite]
    [OnPostgres]
    public async Task A_succeeded_job_keeps_its_last_epoch_and_metrics_at_100_percent(Db db)
    {
        // The second report follows the first at once, so the worker has not stored it before the job ends.
        var job = await RunAsync(db, fail: false);

        Assert.Equal(JobStatus.Succeeded, job.Status);
        Assert.Equal(100, job.Progress.Percent);
        Assert.Equal("done", job.Progress.Stage);
        Assert.Null(job.Progress.EtaSeconds);
        Assert.Equal(3, job.Progress.Epoch);
        Assert.Equal(0.91, job.Progress.Metrics!["test_accuracy"]);
    }

    [Theory]
    [OnSqlite]
    public async Task A_failed_job_keeps_the_progress_it_stored(Db db)
    {
        var job = await RunAsync(db, fail: true);

        Assert.Equal(JobStatus.Failed, job.Status);
        Assert.Equal("training", job.Progress.Stage);
        Assert.Equal(2, job.Progress.Epoch);
        Assert.Equal(40, job.Progress.Percent);
    }

    private static async Task<QueuedJob> RunAsync(Db db, bool fail)
    {
        await using var h = await RegistryHarness.CreateAsync(db);
        var queue = new SqlJobQueueStore(h.Store.Dialect);
        var handler = new ReportingHandler(fail);
        var worker = new JobWorker(queue, h.Artifacts, [handler], Path.Combine(h.DataDir, "jobs"));
        var now = DateTimeOffset.UtcNow;
        var id = "job_" + Guid.NewGuid().ToString("n")[..12];
        await queue.EnqueueAsync(new QueuedJob { Id = id, Kind = handler.Kind, Tenant = "default", Status = JobStatus.Queued, CreatedAt = now, UpdatedAt = now },
            CancellationToken.None);
        Assert.True(await worker.RunOnceAsync(CancellationToken.None));
        return (await queue.GetAsync(id, CancellationToken.None))!;
    }

    private sealed class ReportingHandler(bool fail) : IJobHandler
    {
        public string Kind => "progress-test";

        public async Task<string> RunAsync(JobRun run)
        {
            await run.ReportAsync(new JobProgress { Percent = 40, Stage = "training", Epoch = 2, EtaSeconds = 12 });
            if (fail)
            {
                throw new JobFailedException("planted", "the test fails the job after its progress");
            }

            await run.ReportAsync(new JobProgress
            {
                Percent = 95,
                Stage = "training",
                Epoch = 3,
                EtaSeconds = 1,
                Metrics = new Dictionary<string, double> { ["test_accuracy"] = 0.91 },
            });
            return "{}";
        }
    }
}
