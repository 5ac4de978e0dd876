using System.Net;
using Maas.Server.Tests.Support;
using Maas.Server.Tests.Training;
using Maas.Testing;

namespace Maas.Server.Tests.Datasets;

/// <summary>A dataset an unfinished job reads is not deleted, with force either: the job would lose the data it was submitted with.</summary>
public sealed class DatasetJobUseTests(QueueOnlyServer servers) : IClassFixture<QueueOnlyServer>
{
    [Theory]
    [OnSqlite]
    [OnPostgres]
    public async Task Deleting_a_dataset_version_a_queued_training_job_reads_is_409_naming_the_job_until_it_is_cancelled(Db db)
    {
        // The delete went through (with force, or without: nothing recorded the use until the version was registered);
        // the job then failed at its start, or a running one registered a version whose lineage named data that was gone.
        var server = await servers.GetAsync(db);
        var client = server.Client;
        var dataset = await TrainingApiTests.DatasetAsync(client, LineCsv.Bytes, "line.csv");
        await (await client.PostAsync($"api/v1/datasets/{dataset}/versions", MaasTestServer.Artifact(LineCsv.Bytes, "line.csv"))).JsonAsync(HttpStatusCode.Created);
        using var submitted = await client.PostAsync("api/v1/training/jobs", Api.Json(
            $$"""{"model": "{{Names.Unique("m")}}", "dataset": "{{dataset}}:1", "task": "regression", "label": "y", "trainer": "sdca"}"""));
        var job = (string)(await submitted.JsonAsync(HttpStatusCode.Accepted))["id"]!;

        foreach (var path in new[] { $"api/v1/datasets/{dataset}/versions/1", $"api/v1/datasets/{dataset}/versions/1?force=true", $"api/v1/datasets/{dataset}?force=true" })
        {
            var refused = await (await client.DeleteAsync(path)).ErrorAsync(HttpStatusCode.Conflict, "dataset_in_use");
            var named = Assert.Single(refused["jobs"]!.AsArray())!;
            Assert.Equal((job, "training", "queued", 1), ((string?)named["id"], (string?)named["kind"], (string?)named["status"], (int)named["dataset_version"]!));
            Assert.Contains($"{job} (training, queued)", (string?)refused["message"], StringComparison.Ordinal);
            Assert.Contains("force does not delete data a job is reading", (string?)refused["message"], StringComparison.Ordinal);
        }

        // Another version of the same dataset is not read by the job; a version that does not exist is still 404.
        Assert.Equal(HttpStatusCode.NoContent, (await client.DeleteAsync($"api/v1/datasets/{dataset}/versions/2")).StatusCode);
        await (await client.DeleteAsync($"api/v1/datasets/{dataset}/versions/9")).ErrorAsync(HttpStatusCode.NotFound, "dataset_version_not_found");
        await (await client.GetAsync($"api/v1/datasets/{dataset}/versions/1")).JsonAsync(HttpStatusCode.OK);

        // Once the job is cancelled nothing reads it: deleted.
        await (await client.DeleteAsync($"api/v1/jobs/{job}")).JsonAsync(HttpStatusCode.Accepted);
        await client.WaitForJobAsync(job, TimeSpan.FromSeconds(30));
        Assert.Equal(HttpStatusCode.NoContent, (await client.DeleteAsync($"api/v1/datasets/{dataset}/versions/1")).StatusCode);
    }

    [Theory]
    [OnSqlite]
    [OnPostgres]
    public async Task A_shared_dataset_another_tenants_job_reads_is_409_counting_that_job_without_naming_it(Db db)
    {
        // The refusal listed every unfinished job reading the dataset: the owner of a shared dataset learnt the ids
        // (and kinds and states) of jobs other tenants ran on it.
        var server = await servers.GetAsync(db);
        var owner = await TenantClientAsync(server);
        var other = await TenantClientAsync(server);
        var dataset = Names.Unique("ds");
        await (await owner.PostAsync("api/v1/datasets", Api.Json($$"""{"name": "{{dataset}}", "visibility": "shared"}"""))).JsonAsync(HttpStatusCode.Created);
        await (await owner.PostAsync($"api/v1/datasets/{dataset}/versions", MaasTestServer.Artifact(LineCsv.Bytes, "line.csv"))).JsonAsync(HttpStatusCode.Created);
        var theirs = await SubmitAsync(other, dataset);
        var mine = await SubmitAsync(owner, dataset);

        foreach (var path in new[] { $"api/v1/datasets/{dataset}/versions/1", $"api/v1/datasets/{dataset}?force=true" })
        {
            var refused = await (await owner.DeleteAsync(path)).ErrorAsync(HttpStatusCode.Conflict, "dataset_in_use");
            Assert.Equal(mine, (string?)Assert.Single(refused["jobs"]!.AsArray())!["id"]);
            Assert.Equal(1, (int)refused["unlisted_jobs"]!);
            Assert.Contains($"{mine} (training, queued), plus 1 other unfinished job this key may not see", (string?)refused["message"], StringComparison.Ordinal);
            Assert.DoesNotContain(theirs, refused.ToJsonString(), StringComparison.Ordinal);
        }

        // An admin sees every tenant's jobs, so it is told of both.
        var told = await (await server.Client.DeleteAsync($"api/v1/datasets/{dataset}/versions/1")).ErrorAsync(HttpStatusCode.Conflict, "dataset_in_use");
        Assert.Equal(new[] { theirs, mine }.Order(StringComparer.Ordinal), told["jobs"]!.AsArray().Select(j => (string)j!["id"]!).Order(StringComparer.Ordinal));
        Assert.Equal(0, (int)told["unlisted_jobs"]!);

        // With its own job cancelled, only the other tenant's is left: counted, not named, and not the owner's to cancel.
        await (await owner.DeleteAsync($"api/v1/jobs/{mine}")).JsonAsync(HttpStatusCode.Accepted);
        await owner.WaitForJobAsync(mine, TimeSpan.FromSeconds(30));
        var left = await (await owner.DeleteAsync($"api/v1/datasets/{dataset}")).ErrorAsync(HttpStatusCode.Conflict, "dataset_in_use");
        Assert.Empty(left["jobs"]!.AsArray());
        Assert.Equal(1, (int)left["unlisted_jobs"]!);
        Assert.Contains("is read by 1 unfinished job this key may not see; wait for it to end", (string?)left["message"], StringComparison.Ordinal);
        Assert.DoesNotContain(theirs, left.ToJsonString(), StringComparison.Ordinal);

        await (await other.DeleteAsync($"api/v1/jobs/{theirs}")).JsonAsync(HttpStatusCode.Accepted);
        await other.WaitForJobAsync(theirs, TimeSpan.FromSeconds(30));
        Assert.Equal(HttpStatusCode.NoContent, (await owner.DeleteAsync($"api/v1/datasets/{dataset}")).StatusCode);
    }

    // A client with a key of a new tenant that may upload datasets and train.
    private static async Task<HttpClient> TenantClientAsync(MaasTestServer server) =>
        (await server.TenantClientAsync("datasets:write", "training:write", "training:read")).Client;

    private static async Task<string> SubmitAsync(HttpClient client, string dataset)
    {
        using var submitted = await client.PostAsync("api/v1/training/jobs", Api.Json(
            $$"""{"model": "{{Names.Unique("m")}}", "dataset": "{{dataset}}:1", "task": "regression", "label": "y", "trainer": "sdca"}"""));
        return (string)(await submitted.JsonAsync(HttpStatusCode.Accepted))["id"]!;
    }
}
