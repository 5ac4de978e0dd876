using System.Collections.Concurrent;
using Maas.Core.Jobs;

namespace Maas.Core.Tests.Jobs;

/// <summary>
/// A job leaves the runner's live set however it ends (succeeded, failed, cancelled, its work throwing before it
/// returned a task, its cleanup or its store failing): a long-running server keeps nothing per finished job.
/// </summary>
public sealed class JobRunnerEndsTests
{
    [Fact]
    public async Task Every_way_a_job_ends_takes_it_out_of_the_live_set()
    {
        var store = new MemoryJobStore();
        var crashes = 0;
        await using var runner = new JobRunner(store, maxConcurrent: 2);
        runner.Crashed += (_, _) => Interlocked.Increment(ref crashes);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        Task<Job> Start(Func<JobContext, Task<IReadOnlyDictionary<string, object?>>> work, Func<ValueTask>? cleanup = null) =>
            runner.StartAsync("test", "m", 1, null, "tester", work, cleanup);

        var succeeded = await Start(_ => Task.FromResult<IReadOnlyDictionary<string, object?>>(new Dictionary<string, object?>()));
        var failed = await Start(_ => throw new JobFailedException("bad_input", "the input was bad"));
        var crashed = await Start(_ => throw new InvalidOperationException("thrown before a task was returned"));
        var faulted = await Start(async _ =>
        {
            await Task.Yield();
            throw new InvalidOperationException("thrown by the task");
        });
        var cleanupFails = await Start(
            _ => Task.FromResult<IReadOnlyDictionary<string, object?>>(new Dictionary<string, object?>()),
            () => throw new IOException("cleanup failed"));
        var cancelled = await Start(async context =>
        {
            await release.Task.WaitAsync(context.CancellationToken);
            return new Dictionary<string, object?>();
        });
        foreach (var job in new[] { succeeded, failed, crashed, faulted, cleanupFails })
        {
            await runner.WaitAsync(job.Id).WaitAsync(TimeSpan.FromMinutes(1));
        }

        store.FailUpdates = true; // every write of the next job's state fails
        var storeFails = await Start(_ => Task.FromResult<IReadOnlyDictionary<string, object?>>(new Dictionary<string, object?>()));
        await runner.WaitAsync(storeFails.Id);
        store.FailUpdates = false;

        Assert.Equal(JobCancelOutcome.Requested, runner.Cancel(cancelled.Id).Outcome);
        foreach (var job in new[] { succeeded, failed, crashed, faulted, cleanupFails, cancelled, storeFails })
        {
            await runner.WaitAsync(job.Id).WaitAsync(TimeSpan.FromMinutes(1));
            Assert.Equal(JobCancelOutcome.NotRunning, runner.Cancel(job.Id).Outcome);
        }

        Assert.Equal(JobStatus.Succeeded, store.Jobs[succeeded.Id].Status);
        Assert.Equal("bad_input", store.Jobs[failed.Id].Error?.Code);
        Assert.Equal("internal_error", store.Jobs[crashed.Id].Error?.Code);
        Assert.Equal("internal_error", store.Jobs[faulted.Id].Error?.Code);
        Assert.Equal(JobStatus.Cancelled, store.Jobs[cancelled.Id].Status);
        Assert.True(crashes >= 4, $"{crashes} crashes reported"); // two works, one cleanup, one store write
    }

    private sealed class MemoryJobStore : IJobStore
    {
        public ConcurrentDictionary<string, Job> Jobs { get; } = new();

        public volatile bool FailUpdates;

        public Task CreateJobAsync(Job job, CancellationToken cancellationToken)
        {
            Jobs[job.Id] = job;
            return Task.CompletedTask;
        }

        public Task UpdateJobAsync(Job job, CancellationToken cancellationToken)
        {
            if (FailUpdates)
            {
                throw new IOException("the database is gone");
            }

            Jobs[job.Id] = job;
            return Task.CompletedTask;
        }

        public Task<Job?> GetJobAsync(string id, CancellationToken cancellationToken) => Task.FromResult(Jobs.GetValueOrDefault(id));

        public Task<IReadOnlyList<Job>> ListJobsAsync(int limit, string? tenant, JobPosition? before, CancellationToken cancellationToken) =>
            Task.FromResult<IReadOnlyList<Job>>([.. Jobs.Values.Take(limit)]);

        public Task<int> FailUnfinishedJobsAsync(JobError error, DateTimeOffset now, DateTimeOffset lapsedBefore, CancellationToken cancellationToken) => Task.FromResult(0);
    }
}
