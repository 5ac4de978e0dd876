using Maas.Core.Jobs;
using Maas.Core.Jobs.Queue;
using Maas.Storage.Jobs;
using Maas.Storage.Tests.Support;

namespace Maas.Storage.Tests;

/// <summary>
/// Both job tables list "after a position" in the database, in <see cref="JobPosition"/>'s order: newest first, the
/// jobs of one millisecond by id compared ordinally (as .NET compares them, whatever the database's collation).
/// </summary>
public sealed class JobPageTests
{
    private static readonly DateTimeOffset Start = DateTimeOffset.FromUnixTimeMilliseconds(1_750_000_000_000);

    // Ids whose ordinal order differs from a natural-language collation's (case, '-' and '_' are ignored or folded there).
    private static readonly string[] SameMillisecond = ["ftjob_a", "a1", "ftjobA", "Z1", "ftjob-b"];

    [Theory]
    [OnSqlite]
    [OnPostgres]
    public async Task Imports_list_after_a_position_with_ids_ordering_one_millisecond(Db db)
    {
        await using var database = await StorageDatabase.CreateAsync(db);
        var store = new SqlJobStore((await database.StoreAsync()).Dialect);
        var added = new List<JobPosition>();
        foreach (var (id, at, tenant) in Rows())
        {
            await store.CreateJobAsync(new Job { Id = id, Kind = "import", Status = JobStatus.Succeeded, Tenant = tenant, CreatedAt = at, UpdatedAt = at }, CancellationToken.None);
            if (tenant == "acme")
            {
                added.Add(JobPosition.Of(at, id));
            }
        }

        var expected = Ordered(added);
        Assert.Equal(["new", "Z1", "a1", "ftjob-b", "ftjobA", "ftjob_a", "old"], expected);
        Assert.Equal(expected, await PagesAsync((before, limit) => Ids(store.ListJobsAsync(limit, "acme", before, CancellationToken.None))));
        Assert.Equal(expected.Skip(3), await Ids(store.ListJobsAsync(100, "acme", JobPosition.Of(Start, "a1"), CancellationToken.None)));

        // Without a tenant, every tenant's jobs in the same order.
        var everyone = await Ids(store.ListJobsAsync(100, null, JobPosition.Of(Start, "ftjobA"), CancellationToken.None));
        Assert.Equal(["ftjob_a", "old", "other-old"], everyone);
    }

    [Theory]
    [OnSqlite]
    [OnPostgres]
    public async Task Queued_jobs_list_after_a_position_by_kind_and_tenant(Db db)
    {
        await using var database = await StorageDatabase.CreateAsync(db);
        var store = await database.StoreAsync();
        var queue = new SqlJobQueueStore(store.Dialect);
        var added = new List<JobPosition>();
        foreach (var (id, at, tenant) in Rows())
        {
            await queue.EnqueueAsync(new QueuedJob { Id = id, Kind = "training", Tenant = tenant, CreatedAt = at, UpdatedAt = at }, CancellationToken.None);
            await queue.EnqueueAsync(new QueuedJob { Id = "opt-" + id, Kind = "optimization", Tenant = tenant, CreatedAt = at, UpdatedAt = at }, CancellationToken.None);
            if (tenant == "acme")
            {
                added.Add(JobPosition.Of(at, id));
            }
        }

        var expected = Ordered(added);
        Assert.Equal(expected, await PagesAsync((before, limit) => QueuedIds(queue.ListBeforeAsync("training", "acme", before, limit, CancellationToken.None))));
        Assert.Equal(
            expected.Select(id => "opt-" + id),
            await PagesAsync((before, limit) => QueuedIds(queue.ListBeforeAsync("optimization", "acme", before, limit, CancellationToken.None))));
        Assert.Equal(["ftjob_a", "old", "other-old"], await QueuedIds(queue.ListBeforeAsync("training", null, JobPosition.Of(Start, "ftjobA"), 100, CancellationToken.None)));
        Assert.Empty(await QueuedIds(queue.ListBeforeAsync("fine-tune", "acme", null, 100, CancellationToken.None)));
    }

    // A newer and an older job, five in one millisecond, and another tenant's job among them.
    private static IEnumerable<(string Id, DateTimeOffset At, string Tenant)> Rows()
    {
        yield return ("old", Start.AddMilliseconds(-1), "acme");
        foreach (var id in SameMillisecond)
        {
            yield return (id, Start, "acme");
        }

        yield return ("new", Start.AddMilliseconds(1), "acme");
        yield return ("other-old", Start.AddMilliseconds(-1), "other");
    }

    private static List<string> Ordered(List<JobPosition> positions) =>
        positions.OrderBy(p => p, Comparer<JobPosition>.Create(JobPosition.Compare)).Select(p => p.Id).ToList();

    private static async Task<List<string>> Ids(Task<IReadOnlyList<Job>> jobs) => (await jobs).Select(j => j.Id).ToList();

    private static async Task<List<string>> QueuedIds(Task<IReadOnlyList<QueuedJob>> jobs) => (await jobs).Select(j => j.Id).ToList();

    // Every job, two at a time, each page going on after the last job of the one before.
    private static async Task<List<string>> PagesAsync(Func<JobPosition?, int, Task<List<string>>> page)
    {
        var all = new List<string>();
        JobPosition? before = null;
        var times = Rows().ToDictionary(r => r.Id, r => r.At);
        while (true)
        {
            var ids = await page(before, 2);
            all.AddRange(ids);
            if (ids.Count < 2)
            {
                return all;
            }

            var last = ids[^1];
            before = JobPosition.Of(times[last.StartsWith("opt-", StringComparison.Ordinal) ? last[4..] : last], last);
        }
    }
}
