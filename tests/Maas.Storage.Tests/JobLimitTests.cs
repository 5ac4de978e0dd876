using Maas.Core.Jobs;
using Maas.Core.Jobs.Queue;
using Maas.Storage.Jobs;
using Maas.Storage.Tests.Support;

namespace Maas.Storage.Tests;

/// <summary>
/// The per-tenant limit of unfinished jobs, held by the store itself: submissions of one tenant at the same instant,
/// through separate stores on one database (as through separate servers), never leave it with more than the limit.
/// </summary>
public sealed class JobLimitTests
{
    private const int Limit = 3;
    private const int Submissions = 16;
    private const string NotCounted = "not-counted-test";

    private static readonly UnfinishedJobLimit Counted = new(["counted-a-test", "counted-b-test"], Limit);

    [Theory]
    [OnSqlite]
    [OnPostgres]
    public async Task Submissions_at_once_through_separate_stores_on_one_database_never_pass_the_tenants_limit(Db db)
    {
        await using var database = await StorageDatabase.CreateAsync(db);
        await database.StoreAsync(); // the schema
        // Each store on a dialect of its own, as each server has: nothing in this process orders them.
        var stores = Enumerable.Range(0, 4).Select(_ => new SqlJobQueueStore(database.Dialect())).ToArray();

        // Several rounds, a fresh pair of tenants each: counting and then inserting apart passed the limit in every one.
        for (var round = 0; round < 4; round++)
        {
            var tenants = new[] { $"busy{round}", $"other{round}" };
            // A job of a kind the limit does not count takes no place.
            await stores[0].EnqueueAsync(Job(tenants[0], NotCounted), CancellationToken.None);

            // Every submission waits at the barrier until all have reached it, then all go at once.
            var arrived = 0;
            var go = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var submissions = Enumerable.Range(0, Submissions).Select(i => Task.Run(async () =>
            {
                var job = Job(tenants[i % 2], Counted.Kinds[i / 2 % 2]);
                if (Interlocked.Increment(ref arrived) == Submissions)
                {
                    go.SetResult();
                }

                await go.Task;
                return (Job: job, Outcome: await stores[i % stores.Length].TryEnqueueAsync(job, "status", "{\"status\":\"queued\"}", Counted, CancellationToken.None));
            })).ToArray();
            var results = await Task.WhenAll(submissions).WaitAsync(TimeSpan.FromMinutes(2));

            foreach (var tenant in tenants)
            {
                var mine = results.Where(r => r.Job.Tenant == tenant).ToArray();
                var stored = await stores[1].CountUnfinishedAsync(tenant, Counted.Kinds, CancellationToken.None);
                Assert.True(stored == Limit, $"round {round}: tenant {tenant} has {stored} unfinished jobs, over its limit of {Limit}");
                Assert.Equal(Limit, mine.Count(r => r.Outcome.Enqueued));

                // A refusal says what it counted; it stored neither the job nor its first event.
                foreach (var (job, outcome) in mine)
                {
                    if (outcome.Enqueued)
                    {
                        Assert.InRange(outcome.Unfinished, 0, Limit - 1);
                        var first = Assert.Single(await stores[2].ListEventsAsync(job.Id, 0, 10, CancellationToken.None));
                        Assert.Equal((1L, "status"), (first.Seq, first.Type));
                    }
                    else
                    {
                        Assert.Equal(Limit, outcome.Unfinished);
                        Assert.Null(await stores[2].GetAsync(job.Id, CancellationToken.None));
                        Assert.Empty(await stores[2].ListEventsAsync(job.Id, 0, 10, CancellationToken.None));
                    }
                }
            }

            // A cancelled job frees its place, for exactly one more.
            var cancelled = results.First(r => r.Job.Tenant == tenants[0] && r.Outcome.Enqueued).Job;
            Assert.True((await stores[3].RequestCancelAsync(cancelled.Id, DateTimeOffset.UtcNow, CancellationToken.None))!.Recorded);
            Assert.Equal(new LimitedEnqueue(true, Limit - 1), await stores[0].TryEnqueueAsync(Job(tenants[0], Counted.Kinds[0]), "status", "{}", Counted, CancellationToken.None));
            Assert.Equal(new LimitedEnqueue(false, Limit), await stores[1].TryEnqueueAsync(Job(tenants[0], Counted.Kinds[1]), "status", "{}", Counted, CancellationToken.None));
        }
    }

    private static QueuedJob Job(string tenant, string kind)
    {
        var now = DateTimeOffset.UtcNow;
        return new QueuedJob
        {
            Id = "job_" + Guid.NewGuid().ToString("n")[..16],
            Kind = kind,
            Tenant = tenant,
            Status = JobStatus.Queued,
            CreatedBy = "tests",
            CreatedAt = now,
            UpdatedAt = now,
        };
    }
}
