using System.Net;
using Maas.Core.Tenancy;
using Maas.Server.Tests.Support;
using Maas.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace Maas.Server.Tests.Tenancy;

/// <summary>
/// GET /api/v1/usage?model= has the database pick its rows: those naming the model in either spelling usage gives it
/// (owner/name, or the short name in the owner's rows) or as asked. Every row of every model was read and filtered in
/// memory before; the answer is the same, and the rows of other models are not read.
/// </summary>
public sealed class UsageModelFilterTests
{
    private static readonly DateTimeOffset At = new(2026, 11, 30, 12, 0, 0, TimeSpan.Zero);

    // (tenant, key, model, requests): tenant "own" owns "m", tenant "use" has a model "m" of its own as well.
    private static readonly (string Tenant, string Key, string? Model, int Requests)[] Recorded =
    [
        ("own", "k1", "aa", 4),
        ("own", "k1", "m", 2),
        ("own", "k2", "m", 1),
        ("own", "k1", null, 1),
        ("own", "k1", "own/m", 1),
        ("own", "k1", "use/m", 1),
        ("use", "k3", "aa", 1),
        ("use", "k3", "own/m", 3),
        ("use", "k3", "m", 5),
        ("zz", "k4", "own/m", 1),
    ];

    // The model asked for and the tenant whose usage is read (a short name is that tenant's model).
    private static readonly (string Model, string Tenant)[] Asked =
    [
        ("m", "own"), ("own/m", "own"), ("own/m", "use"), ("m", "use"), ("use/m", "own"), ("aa", "own"), ("nope", "own"), ("a/b/m", "own"),
    ];

    [Theory]
    [OnSqlite]
    [OnPostgres]
    public async Task A_model_filter_picks_the_same_rows_in_the_database_as_it_did_in_memory(Db db)
    {
        await using var database = await TestDatabase.CreateAsync(db);
        await using var host = await TenancyHost.StartAsync(database: database);
        var store = host.Server.Services.GetRequiredService<ITenancyStore>();
        await RecordAsync(store);

        var all = await store.QueryUsageAsync(new UsageQuery { Limit = 100_000 }, CancellationToken.None);
        foreach (var (model, tenant) in Asked)
        {
            var expected = all.Where(row => MatchedInMemory(row, model, tenant)).ToList();
            var rows = await store.QueryUsageAsync(new UsageQuery { ModelMatch = UsageModelMatch.For(model, tenant), Limit = 100_000 }, CancellationToken.None);
            Assert.True(expected.SequenceEqual(rows), $"{model} for {tenant}: {string.Join("; ", rows.Select(Describe))}");
        }

        // owner/name: the owner's calls by either name and the other tenants' calls as owner/name, nothing else.
        var shared = await store.QueryUsageAsync(new UsageQuery { ModelMatch = UsageModelMatch.For("own/m", "use"), Limit = 100 }, CancellationToken.None);
        Assert.Equal(["own k1 m 2", "own k1 own/m 1", "own k2 m 1", "use k3 own/m 3", "zz k4 own/m 1"], shared.Select(Describe).Order(StringComparer.Ordinal));
    }

    [Theory]
    [OnSqlite]
    [OnPostgres]
    public async Task The_limit_counts_only_the_rows_of_the_model_and_no_other_model_is_read(Db db)
    {
        await using var database = await TestDatabase.CreateAsync(db);
        await using var host = await TenancyHost.StartAsync(database: database);
        var store = host.Server.Services.GetRequiredService<ITenancyStore>();
        await RecordAsync(store);
        var match = UsageModelMatch.For("m", "own");
        var every = (await store.QueryUsageAsync(new UsageQuery { Limit = 100_000 }, CancellationToken.None)).Where(row => MatchedInMemory(row, "m", "own")).ToList();
        Assert.Equal(6, every.Count);

        // A row filter of the query sees each row the database returns: with the model asked for, only that model's.
        var seen = new List<UsageRow>();
        var kept = await store.QueryUsageAsync(new UsageQuery { ModelMatch = match, Limit = 100, Keep = row => { seen.Add(row); return true; } }, CancellationToken.None);
        Assert.Equal(every, seen);
        Assert.Equal(every, kept);

        // "aa" sorts before "m" within tenant own and key k1: a limit taken before the model filter would have cut at it.
        var two = await store.QueryUsageAsync(new UsageQuery { ModelMatch = match, Limit = 2 }, CancellationToken.None);
        Assert.Equal(every.Take(2), two);

        // The route: the same rows, the limit applied after the filter, and the totals of those rows.
        var answer = await (await host.Admin.GetAsync("api/v1/usage?tenant=own&model=m&limit=2")).JsonAsync(HttpStatusCode.OK);
        Assert.Equal(every.Where(r => r.Tenant == "own").Take(2).Select(Describe),
            answer["rows"]!.AsArray().Select(r => $"{r!["tenant"]} {r["key_id"]} {r["model"]} {r["requests"]}"));
        var owner = await (await host.Admin.GetAsync("api/v1/usage?model=own/m")).JsonAsync(HttpStatusCode.OK);
        Assert.Equal(8, (long?)owner["totals"]!["requests"]);
    }

    // The filter as the route ran it in memory before, over every row: the model as asked, or the same owner/name.
    private static bool MatchedInMemory(UsageRow row, string model, string tenant)
    {
        static string Qualify(string name, string owner) => name.Contains('/', StringComparison.Ordinal) ? name : owner + "/" + name;
        return row.Model is { } named
            && (string.Equals(named, model, StringComparison.Ordinal) || string.Equals(Qualify(named, row.Tenant), Qualify(model, tenant), StringComparison.Ordinal));
    }

    private static string Describe(UsageRow row) => $"{row.Tenant} {row.KeyId} {row.Model} {row.Requests}";

    private static async Task RecordAsync(ITenancyStore store)
    {
        var records = Recorded.SelectMany(r => Enumerable.Range(0, r.Requests).Select(i => new UsageRecord
        {
            At = At.AddSeconds(i),
            Tenant = r.Tenant,
            KeyId = r.Key,
            Model = r.Model,
            Protocol = "openai",
            Operation = "/v1/chat/completions",
            Status = 200,
            LatencyMs = 5,
        })).ToList();
        await store.AppendAsync(records, [], CancellationToken.None);
    }
}
