using System.Net;
using System.Text;
using Maas.Server.Tests.Support;
using Maas.Server.Tests.Training;
using Maas.Testing;

namespace Maas.Server.Tests.Datasets;

/// <summary>A dataset an unfinished job reads is not deleted, with force either: the job would lose the data it was submitted with.</summary>
public sealed class DatasetJobUseTests(QueueOnlyServer servers) : IClassFixture<QueueOnlyServer>
{
    private static readonly byte[] Line = Encoding.UTF8.GetBytes("x,y\n" + string.Concat(Enumerable.Range(0, 40).Select(i => $"{i},{(2 * i) + 1}\n")));

    [Theory]
    [OnSqlite]
    [OnPostgres]
    public async Task Deleting_a_dataset_version_a_queued_training_job_reads_is_409_naming_the_job_until_it_is_cancelled(Db db)
    {
        // The delete went through (with force, or without: nothing recorded the use until the version was registered);
        // the job then failed at its start, or a running one registered a version whose lineage named data that was gone.
        var server = await servers.GetAsync(db);
        var client = server.Client;
        var dataset = await TrainingApiTests.DatasetAsync(client, Line, "line.csv");
        await (await client.PostAsync($"api/v1/datasets/{dataset}/versions", MaasTestServer.Artifact(Line, "line.csv"))).JsonAsync(HttpStatusCode.Created);
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
}
