using System.Net;
using System.Security.Cryptography;
using System.Text.Json.Nodes;
using Maas.Core.Jobs;
using Maas.Core.Jobs.Queue;
using Maas.Core.Tenancy;
using Maas.Server.Tests.Support;
using Maas.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace Maas.Server.Tests.Jobs;

/// <summary>A server per database whose worker-run jobs stay queued (no in-process worker), so the tests' jobs keep still.</summary>
public sealed class JobPagingServers : ServerPerDb
{
    /// <inheritdoc />
    protected override IReadOnlyDictionary<string, string?> Settings => new Dictionary<string, string?>
    {
        ["Maas:Training:Workers"] = "0",
    };
}

/// <summary>
/// GET /api/v1/jobs a page at a time (?before= the next_before of the page before): imports and the worker-run kinds
/// merged newest first, pages that stay put while jobs arrive, jobs of one millisecond neither skipped nor repeated,
/// and each key's jobs only (its tenant, its kinds' scopes, its models) on every page.
/// </summary>
public sealed class JobListPagingTests(JobPagingServers servers) : IClassFixture<JobPagingServers>
{
    private static readonly string[] Kinds = ["import", "training", "optimization", "fine-tune"];

    private static readonly string[] EveryReadScope = [MaasScopes.ModelsRead, MaasScopes.TrainingRead];

    [Theory]
    [OnSqlite]
    [OnPostgres]
    public async Task Pages_merge_every_kind_newest_first_and_neither_skip_nor_repeat_jobs_of_one_millisecond(Db db)
    {
        var server = await servers.GetAsync(db);
        var tenant = await TenantAsync(server);
        var client = await KeyAsync(server, tenant, EveryReadScope);

        // 30 jobs in 5 milliseconds, 6 to a millisecond, every kind in each.
        var start = Start();
        var jobs = new List<Added>();
        for (var i = 0; i < 30; i++)
        {
            jobs.Add(await AddAsync(server, Kinds[i % Kinds.Length], tenant, start.AddMilliseconds(i / 6)));
        }

        var expected = Ordered(jobs);
        foreach (var limit in new[] { 1, 4, 6, 7, 15, 29, 30, 31, 1000 })
        {
            var pages = await PagesAsync(client, "", limit);
            Assert.Equal(expected, pages.SelectMany(p => p.Ids));
            // Every page is full but the last, and a last page that happens to be full says so (no empty page after it).
            Assert.Equal((30 + limit - 1) / limit, pages.Count);
            Assert.All(pages.SkipLast(1), p => Assert.Equal(limit, p.Ids.Count));
        }

        // The fields every job had are still there, and kind= narrows a paged list the same way.
        var first = await PageAsync(client, "limit=2");
        Assert.All(new[] { "id", "kind", "status", "model", "created_at", "url" }, field => Assert.NotNull(first.Jobs[0]![field]));
        foreach (var kind in Kinds)
        {
            var ofKind = await PagesAsync(client, $"kind={kind}&", 2);
            Assert.Equal(Ordered(jobs.Where(j => j.Kind == kind)), ofKind.SelectMany(p => p.Ids));
            Assert.All(ofKind.SelectMany(p => p.Jobs), j => Assert.Equal(kind, (string?)j!["kind"]));
        }
    }

    [Theory]
    [OnSqlite]
    [OnPostgres]
    public async Task Later_pages_stay_where_they_were_when_jobs_are_created_between_pages(Db db)
    {
        var server = await servers.GetAsync(db);
        var tenant = await TenantAsync(server);
        var client = await KeyAsync(server, tenant, EveryReadScope);
        var start = Start();
        var old = new List<Added>();
        for (var i = 0; i < 12; i++)
        {
            old.Add(await AddAsync(server, Kinds[i % Kinds.Length], tenant, start.AddMilliseconds(i / 3)));
        }

        var expected = Ordered(old);
        var first = await PageAsync(client, "limit=5");
        Assert.Equal(expected.Take(5), first.Ids);

        // New jobs of every kind arrive, newer than all (as new jobs are).
        var added = new List<Added>();
        foreach (var kind in Kinds)
        {
            added.Add(await AddAsync(server, kind, tenant, start.AddMinutes(1)));
        }

        var rest = await PagesAsync(client, "", 5, first.Next);
        Assert.Equal(expected.Skip(5), rest.SelectMany(p => p.Ids));

        // The first page, read again, starts with the new jobs.
        var again = await PageAsync(client, "limit=5");
        Assert.Equal(Ordered(added).Concat(expected).Take(5), again.Ids);
    }

    [Theory]
    [OnSqlite]
    public async Task A_before_that_no_page_gave_is_400_invalid_query_naming_it(Db db)
    {
        var server = await servers.GetAsync(db);
        var client = server.Client;
        var huge = "1." + new string('a', 300);
        foreach (var bad in new[] { "abc", "123", ".abc", "123.", "-1.abc", "+1.abc", "1e3.abc", "12x.abc", "1.a b", "1.a/b", "99999999999999999999.abc", huge })
        {
            var error = await (await client.GetAsync($"api/v1/jobs?before={Uri.EscapeDataString(bad)}")).ErrorAsync(HttpStatusCode.BadRequest, "invalid_query");
            var message = (string?)error["message"];
            Assert.Contains("before", message, StringComparison.Ordinal);
            Assert.Contains(bad.Length <= 80 ? $"'{bad}'" : bad[..77], message, StringComparison.Ordinal);
        }

        // A well-formed position that no job has is a place in the list like any other.
        var far = await PageAsync(client, "before=1.zzz");
        Assert.Empty(far.Ids);
        Assert.Null(far.Next);
        await (await client.GetAsync("api/v1/jobs?before=1.abc&limit=0")).ErrorAsync(HttpStatusCode.BadRequest, "invalid_query");
    }

    [Theory]
    [OnSqlite]
    [OnPostgres]
    public async Task A_tenant_never_sees_another_tenants_jobs_on_any_page(Db db)
    {
        var server = await servers.GetAsync(db);
        var a = await TenantAsync(server);
        var b = await TenantAsync(server);
        var clientA = await KeyAsync(server, a, EveryReadScope);
        var clientB = await KeyAsync(server, b, EveryReadScope);

        // Both tenants' jobs in the same milliseconds, every kind, so each page boundary falls among the other's jobs.
        var start = Start();
        var jobs = new List<Added>();
        for (var i = 0; i < 24; i++)
        {
            jobs.Add(await AddAsync(server, Kinds[i % Kinds.Length], i % 3 == 0 ? b : a, start.AddMilliseconds(i / 4)));
        }

        foreach (var (client, tenant) in new[] { (clientA, a), (clientB, b) })
        {
            foreach (var limit in new[] { 1, 3, 5 })
            {
                var pages = await PagesAsync(client, "", limit);
                Assert.Equal(Ordered(jobs.Where(j => j.Tenant == tenant)), pages.SelectMany(p => p.Ids));
            }
        }

        // The other tenant's cursor is only a place in the list: it shows its holder's own jobs after that place.
        var pageOfB = await PageAsync(clientB, "limit=2");
        var fromThere = await PagesAsync(clientA, "", 4, pageOfB.Next);
        var place = jobs.Single(j => j.Id == pageOfB.Ids[^1]).Position;
        Assert.Equal(Ordered(jobs.Where(j => j.Tenant == a && j.Position.IsAfter(place))), fromThere.SelectMany(p => p.Ids));

        // An admin pages through both, in one order.
        var mine = jobs.Select(j => j.Id).ToHashSet();
        var all = (await PagesAsync(server.Client, "", 7)).SelectMany(p => p.Ids).ToList();
        Assert.Equal(all.Count, all.Distinct().Count());
        Assert.Equal(Ordered(jobs), all.Where(mine.Contains));
    }

    [Theory]
    [OnSqlite]
    [OnPostgres]
    public async Task Each_page_holds_only_the_kinds_the_keys_scopes_read_and_the_models_it_may_use(Db db)
    {
        var server = await servers.GetAsync(db);
        var tenant = await TenantAsync(server);
        var start = Start();
        var jobs = new List<Added>();
        // Mostly jobs of a model the narrow key may not use, its own few far apart: pages must read past many hidden jobs.
        for (var i = 0; i < 60; i++)
        {
            var model = i % 13 == 0 ? "seen-model" : "hidden-model";
            jobs.Add(await AddAsync(server, Kinds[i % Kinds.Length], tenant, start.AddMilliseconds(i / 2), model));
        }

        var training = await KeyAsync(server, tenant, [MaasScopes.TrainingRead]);
        var trainingPages = await PagesAsync(training, "", 4);
        Assert.Equal(Ordered(jobs.Where(j => j.Kind is "training" or "fine-tune")), trainingPages.SelectMany(p => p.Ids));

        var models = await KeyAsync(server, tenant, [MaasScopes.ModelsRead]);
        Assert.Equal(Ordered(jobs.Where(j => j.Kind is "import" or "optimization")), (await PagesAsync(models, "", 4)).SelectMany(p => p.Ids));

        var narrow = await KeyAsync(server, tenant, EveryReadScope, ["seen-*"]);
        var seen = Ordered(jobs.Where(j => j.Model == "seen-model"));
        Assert.Equal(5, seen.Count);
        foreach (var limit in new[] { 1, 2, 10 })
        {
            var pages = await PagesAsync(narrow, "", limit);
            Assert.Equal(seen, pages.SelectMany(p => p.Ids));
            Assert.All(pages, p => Assert.True(p.Ids.Count <= limit));
        }
    }

    [Theory]
    [OnSqlite]
    public async Task The_training_job_list_pages_with_before_as_well_and_new_jobs_move_no_later_page(Db db)
    {
        var server = await servers.GetAsync(db);
        var tenant = await TenantAsync(server);
        var client = await KeyAsync(server, tenant, [MaasScopes.TrainingRead]);
        var start = Start();
        var training = new List<Added>();
        for (var i = 0; i < 12; i++)
        {
            training.Add(await AddAsync(server, "training", tenant, start.AddMilliseconds(i / 4)));
            await AddAsync(server, "fine-tune", tenant, start.AddMilliseconds(i / 4)); // another kind: not on this list
        }

        async Task<(List<string> Ids, string? Next)> TrainingPageAsync(string query)
        {
            var body = await (await client.GetAsync($"api/v1/training/jobs?limit=5{query}")).JsonAsync(HttpStatusCode.OK);
            return (body["jobs"]!.AsArray().Select(j => (string)j!["id"]!).ToList(), (string?)body["next_before"]);
        }

        var first = await TrainingPageAsync("");
        // Submitted between pages: it goes on top of the first page and moves nothing on the later ones (an offset did).
        await AddAsync(server, "training", tenant, DateTimeOffset.UtcNow);
        var seen = new List<string>(first.Ids);
        for (var next = first.Next; next is not null;)
        {
            var page = await TrainingPageAsync($"&before={Uri.EscapeDataString(next)}");
            seen.AddRange(page.Ids);
            next = page.Next;
        }

        Assert.Equal(Ordered(training), seen);

        // A job whose stored spec this version cannot read (another version wrote it) is listed with what is known.
        var unreadable = "train_" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(10));
        await server.Services.GetRequiredService<IJobQueueStore>().EnqueueAsync(
            new QueuedJob
            {
                Id = unreadable,
                Kind = "training",
                Tenant = tenant,
                Spec = """{"model": "paged-model", "dataset": "an older shape"}""",
                CreatedBy = "test",
                CreatedAt = DateTimeOffset.UtcNow,
                UpdatedAt = DateTimeOffset.UtcNow
            },
            CancellationToken.None);
        var listed = await (await client.GetAsync("api/v1/training/jobs?limit=1000")).JsonAsync(HttpStatusCode.OK);
        var shown = listed["jobs"]!.AsArray().Single(j => (string?)j!["id"] == unreadable)!;
        Assert.Equal(("queued", null), ((string?)shown["status"], (string?)shown["dataset"]));
        var both = await client.GetAsync($"api/v1/training/jobs?offset=5&before={Uri.EscapeDataString(first.Next!)}");
        Assert.Contains("not both", (string?)(await both.ErrorAsync(HttpStatusCode.BadRequest, "invalid_query"))["message"], StringComparison.Ordinal);
        await (await client.GetAsync("api/v1/training/jobs?before=yesterday")).ErrorAsync(HttpStatusCode.BadRequest, "invalid_query");
    }

    [Theory]
    [OnSqlite]
    public async Task Stored_data_this_version_cannot_read_is_shown_with_what_is_known_and_never_blamed_on_the_caller(Db db)
    {
        var server = await servers.GetAsync(db);
        var tenant = await TenantAsync(server);
        var client = await KeyAsync(server, tenant, [MaasScopes.TrainingRead]);
        var limited = await KeyAsync(server, tenant, [MaasScopes.TrainingRead], ["paged-model"]);

        // AddAsync stores a fine-tuning job whose spec is only {"model": ...}: not a spec this version can read.
        var job = await AddAsync(server, "fine-tune", tenant, DateTimeOffset.UtcNow);
        var shown = await (await client.GetAsync($"v1/fine_tuning/jobs/{job.Id}")).JsonAsync(HttpStatusCode.OK);
        Assert.Equal(("fine_tuning.job", "queued", "paged-model", null), ((string?)shown["object"], (string?)shown["status"], (string?)shown["model"],
            (string?)shown["training_file"]));
        var listed = await (await client.GetAsync("v1/fine_tuning/jobs?limit=100")).JsonAsync(HttpStatusCode.OK);
        Assert.Contains(job.Id, listed["data"]!.AsArray().Select(j => (string?)j!["id"]));
        var checkpoints = await (await client.GetAsync($"v1/fine_tuning/jobs/{job.Id}/checkpoints")).JsonAsync(HttpStatusCode.OK);
        Assert.Empty(checkpoints["data"]!.AsArray());

        // A key limited to some models cannot tell whether the job is on one of them: it does not see it.
        await (await limited.GetAsync($"v1/fine_tuning/jobs/{job.Id}")).JsonAsync(HttpStatusCode.NotFound);
        var limitedList = await (await limited.GetAsync("v1/fine_tuning/jobs?limit=100")).JsonAsync(HttpStatusCode.OK);
        Assert.DoesNotContain(job.Id, limitedList["data"]!.AsArray().Select(j => (string?)j!["id"]));

        // An event the server cannot read is its own fault: a 500 with the request id, not "the request body is not valid JSON".
        await server.Services.GetRequiredService<IJobQueueStore>().AddEventAsync(job.Id, "note", "not json", DateTimeOffset.UtcNow, CancellationToken.None);
        var error = await (await client.GetAsync($"api/v1/jobs/{job.Id}/events")).ErrorAsync(HttpStatusCode.InternalServerError, "internal_error");
        Assert.Contains("request", (string?)error["message"], StringComparison.Ordinal);
    }

    private sealed record Added(string Id, string Kind, string Tenant, string? Model, JobPosition Position);

    private sealed record Page(List<string> Ids, JsonArray Jobs, string? Next);

    // A fixed past moment, different for each test, so no two tests' jobs share a millisecond by chance.
    private static DateTimeOffset Start() =>
        DateTimeOffset.FromUnixTimeMilliseconds(1_700_000_000_000 + (RandomNumberGenerator.GetInt32(1_000_000) * 1000L));

    private static List<string> Ordered(IEnumerable<Added> jobs) =>
        jobs.OrderBy(j => j.Position, Comparer<JobPosition>.Create(JobPosition.Compare)).Select(j => j.Id).ToList();

    // Stores a job straight through the server's stores (the route reads them back the same way): an import as the
    // import runner stores it, a worker-run job as its route enqueues it.
    private static async Task<Added> AddAsync(MaasTestServer server, string kind, string tenant, DateTimeOffset at, string? model = "paged-model")
    {
        var hex = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(10));
        if (kind == "import")
        {
            var id = hex + "abcd";
            await server.Services.GetRequiredService<IJobStore>().CreateJobAsync(FinishedImports.Of(id, tenant, model, at), CancellationToken.None);
            return new Added(id, kind, tenant, model, JobPosition.Of(at, id));
        }

        var queuedId = kind switch { "training" => "train_", "optimization" => "opt_", _ => "ftjob-" } + hex;
        var fields = model is null ? new JsonObject() : new JsonObject { ["model"] = model };
        if (kind == "training")
        {
            // What the training routes read back besides the model (a job as its route stores it).
            fields["dataset"] = new JsonObject { ["name"] = "paged-data", ["version"] = 1, ["sha256"] = new string('a', 64) };
            fields["task"] = "regression";
            fields["label"] = "y";
            fields["features"] = new JsonArray(new JsonObject { ["name"] = "x", ["type"] = "number" });
            fields["trainer"] = "sdca";
        }

        var spec = fields.ToJsonString();
        await server.Services.GetRequiredService<IJobQueueStore>().EnqueueAsync(
            new QueuedJob { Id = queuedId, Kind = kind, Tenant = tenant, Spec = spec, CreatedBy = "test", CreatedAt = at, UpdatedAt = at },
            CancellationToken.None);
        return new Added(queuedId, kind, tenant, model, JobPosition.Of(at, queuedId));
    }

    private static async Task<Page> PageAsync(HttpClient client, string query)
    {
        var body = await (await client.GetAsync($"api/v1/jobs?{query}")).JsonAsync(HttpStatusCode.OK);
        var jobs = body["jobs"]!.AsArray();
        return new Page(jobs.Select(j => (string)j!["id"]!).ToList(), jobs, (string?)body["next_before"]);
    }

    // Every page from the first (or from before), following next_before until a page has none.
    private static async Task<List<Page>> PagesAsync(HttpClient client, string query, int limit, string? before = null)
    {
        var pages = new List<Page>();
        while (true)
        {
            var page = await PageAsync(client, $"{query}limit={limit}{(before is null ? "" : $"&before={Uri.EscapeDataString(before)}")}");
            pages.Add(page);
            Assert.True(page.Ids.Count <= limit, $"a page of {page.Ids.Count} jobs for limit {limit}");
            if (page.Next is null)
            {
                return pages;
            }

            Assert.NotEqual(before, page.Next);
            Assert.True(pages.Count < 1000, "next_before never ends");
            before = page.Next;
        }
    }

    private static Task<string> TenantAsync(MaasTestServer server) => server.NewTenantAsync();

    private static async Task<HttpClient> KeyAsync(MaasTestServer server, string tenant, string[] scopes, string[]? models = null) =>
        server.CreateClient(await server.NewKeyAsync(tenant, scopes, models));
}
