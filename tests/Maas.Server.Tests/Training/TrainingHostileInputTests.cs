using System.Net;
using Maas.Server.Tests.Support;
using Maas.Testing;

namespace Maas.Server.Tests.Training;

/// <summary>A server without workers: every accepted job stays queued, so what was queued can be counted exactly.</summary>
public sealed class QueueOnlyServer : ServerPerDb
{
    /// <summary>The per-tenant limit of unfinished jobs on this server.</summary>
    public const int JobLimit = 2;

    /// <inheritdoc />
    protected override IReadOnlyDictionary<string, string?> Settings => new Dictionary<string, string?>
    {
        ["Maas:Training:Workers"] = "0",
        ["Maas:Training:MaxUnfinishedJobsPerTenant"] = JobLimit.ToString(System.Globalization.CultureInfo.InvariantCulture),
    };
}

/// <summary>What a careless or hostile client sends to POST /api/v1/training/jobs: refused with a 400 naming it, nothing queued.</summary>
public sealed class TrainingHostileInputTests(QueueOnlyServer servers) : IClassFixture<QueueOnlyServer>
{
    private static async Task<HttpClient> TenantAsync(MaasTestServer server) =>
        (await server.TenantClientAsync("datasets:write", "training:write", "training:read", "models:write")).Client;

    private static async Task<int> JobCountAsync(HttpClient client) =>
        (await (await client.GetAsync("api/v1/training/jobs")).JsonAsync(HttpStatusCode.OK))["jobs"]!.AsArray().Count;

    [Theory]
    // A misspelt field was dropped without a word: "trails" ran the whole grid, "metrc" compared trials by rmse.
    [InlineData("""{"space": {"l2": [0.1, 1]}, "trails": 1}""", "search takes method, space, trials, metric, seed, not 'trails'")]
    [InlineData("""{"space": {"l2": [0.1, 1]}, "metrc": "mae"}""", "not 'metrc'")]
    [InlineData("""{"space": {"l2": {"min": 0.1, "max": 1, "stesp": 3}}}""", "search.space.l2 takes min, max, scale, integer, steps, not 'stesp'")]
    // A metric that is not a string compared trials by the default metric.
    [InlineData("""{"space": {"l2": [0.1, 1]}, "metric": 5}""", "search.metric must be a string")]
    [InlineData("""{"space": {"l2": {"min": 0.1, "max": 1, "steps": 2, "integer": "yes"}}}""", "integer must be true or false")]
    public async Task A_search_with_a_field_it_does_not_take_or_of_the_wrong_type_is_400_invalid_search(string search, string message)
    {
        var server = await servers.GetAsync(Db.Sqlite);
        using var client = await TenantAsync(server);
        var dataset = await TrainingApiTests.DatasetAsync(client, LineCsv.Bytes, "line.csv");

        var error = await (await client.PostAsync("api/v1/training/jobs", Api.Json(
            $$"""{"model": "{{Names.Unique("m")}}", "dataset": "{{dataset}}", "task": "regression", "label": "y", "trainer": "sdca", "search": {{search}}}""")))
            .ErrorAsync(HttpStatusCode.BadRequest, "invalid_search");
        Assert.Contains(message, (string?)error["message"], StringComparison.Ordinal);
        Assert.Equal(0, await JobCountAsync(client));
    }

    [Theory]
    // A negative seed was taken here while fine-tuning's seed and optimisation's options.seed refuse one: every job's
    // seed is a whole number from 0 to 2147483647.
    [InlineData("\"split\": {\"seed\": -1}", "invalid_split", "split.seed must be a whole number from 0 to 2147483647, not -1")]
    [InlineData("\"split\": {\"validation\": 0.2}, \"search\": {\"method\": \"random\", \"space\": {\"l2\": {\"min\": 0.1, \"max\": 1}}, \"trials\": 2, \"seed\": -7}",
        "invalid_search", "search.seed must be a whole number from 0 to 2147483647, not -7")]
    public async Task A_negative_seed_is_refused_as_every_jobs_seed_is(string fields, string code, string message)
    {
        var server = await servers.GetAsync(Db.Sqlite);
        using var client = await TenantAsync(server);
        var dataset = await TrainingApiTests.DatasetAsync(client, LineCsv.Bytes, "line.csv");

        var error = await (await client.PostAsync("api/v1/training/jobs", Api.Json(
            $$"""{"model": "{{Names.Unique("m")}}", "dataset": "{{dataset}}", "task": "regression", "label": "y", "trainer": "sdca", {{fields}}}""")))
            .ErrorAsync(HttpStatusCode.BadRequest, code);
        Assert.Contains(message, (string?)error["message"], StringComparison.Ordinal);
        Assert.Equal(0, await JobCountAsync(client));

        // Zero is a seed like any other.
        var zero = fields.Replace("-1", "0", StringComparison.Ordinal).Replace("-7", "0", StringComparison.Ordinal);
        await (await client.PostAsync("api/v1/training/jobs", Api.Json(
            $$"""{"model": "{{Names.Unique("m")}}", "dataset": "{{dataset}}", "task": "regression", "label": "y", "trainer": "sdca", {{zero}}}""")))
            .JsonAsync(HttpStatusCode.Accepted);
    }

    [Theory]
    // Each of these was accepted, the last value silently winning.
    [InlineData("\"hyperparameters\": {\"l2\": 0.1, \"l2\": 10}", "'l2' is given more than once")]
    [InlineData("\"label\": \"y\", \"label\": \"x\"", "'label' is given more than once")]
    [InlineData("\"search\": {\"space\": {\"l2\": [0.1, 1], \"l2\": [5]}}", "'l2' is given more than once")]
    public async Task A_key_given_twice_is_400_invalid_json_naming_it(string fields, string message)
    {
        var server = await servers.GetAsync(Db.Sqlite);
        using var client = await TenantAsync(server);
        var dataset = await TrainingApiTests.DatasetAsync(client, LineCsv.Bytes, "line.csv");

        var error = await (await client.PostAsync("api/v1/training/jobs", Api.Json(
            $$"""{"model": "{{Names.Unique("m")}}", "dataset": "{{dataset}}", "task": "regression", "trainer": "sdca", {{fields}}}""")))
            .ErrorAsync(HttpStatusCode.BadRequest, "invalid_json");
        var text = (string)error["message"]!;
        Assert.True(text.Contains(message, StringComparison.Ordinal) && !text.Contains("Maas.", StringComparison.Ordinal), text);
        Assert.Equal(0, await JobCountAsync(client));
    }

    [Fact]
    public async Task Submissions_sent_at_once_do_not_pass_the_tenants_job_limit_together()
    {
        var server = await servers.GetAsync(Db.Sqlite);
        using var client = await TenantAsync(server);
        var dataset = await TrainingApiTests.DatasetAsync(client, LineCsv.Bytes, "line.csv");

        // Each submission counted the tenant's jobs before it enqueued its own: sent together, several counted the same
        // free place and the tenant ended with more unfinished jobs than the limit.
        var answers = await Task.WhenAll(Enumerable.Range(0, 24).Select(async _ =>
        {
            var model = Names.Unique("m");
            using var response = await client.PostAsync("api/v1/training/jobs", Api.Json(
                $$"""{"model": "{{model}}", "dataset": "{{dataset}}", "task": "regression", "label": "y", "trainer": "sdca"}"""));
            if (response.StatusCode != HttpStatusCode.Accepted)
            {
                await response.ErrorAsync(HttpStatusCode.TooManyRequests, "too_many_jobs");
            }

            return (Model: model, response.StatusCode);
        }));

        Assert.Equal(QueueOnlyServer.JobLimit, answers.Count(a => a.StatusCode == HttpStatusCode.Accepted));
        Assert.Equal(QueueOnlyServer.JobLimit, await JobCountAsync(client));

        // And a refused submission changed nothing: on one server each is checked after the ones before it enqueued,
        // before it creates the new model it names (refused only at the enqueue, it left that model behind).
        foreach (var (model, _) in answers.Where(a => a.StatusCode != HttpStatusCode.Accepted))
        {
            await (await client.GetAsync($"api/v1/models/{model}")).ErrorAsync(HttpStatusCode.NotFound, "model_not_found");
        }
    }
}
