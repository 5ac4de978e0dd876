using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Maas.Core.Jobs;
using Maas.Core.Jobs.Queue;
using Maas.Core.Registry;
using Maas.Server.FineTuning;
using Maas.Server.Tests.Support;
using Maas.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace Maas.Server.Tests.Training;

/// <summary>
/// Cancelling a job that is already being cancelled, on every cancel route. The server has no worker: a job is made
/// "running" by claiming it from the queue as a worker in another process would, so it stays running (its cancel
/// pending) for as long as the test needs, with no training at all.
/// </summary>
public sealed class JobCancelTests
{
    private static async Task<MaasTestServer> StartAsync() =>
        await MaasTestServer.StartAsync(settings: new Dictionary<string, string?> { ["Maas:Training:Workers"] = "0" });

    private static async Task<QueuedJob> ClaimAsync(MaasTestServer server, string kind)
    {
        var now = DateTimeOffset.UtcNow;
        var job = await server.Services.GetRequiredService<IJobQueueStore>().ClaimAsync([kind], "remote-worker", now.AddHours(1), now, CancellationToken.None);
        Assert.NotNull(job);
        return job;
    }

    private static async Task<JsonArray> EventsAsync(HttpClient client, string route)
    {
        var page = await (await client.GetAsync(route)).JsonAsync(HttpStatusCode.OK);
        return page["events"]?.AsArray() ?? page["data"]!.AsArray();
    }

    [Fact]
    public async Task A_second_cancel_of_a_training_job_being_cancelled_is_job_finished_on_every_route_and_adds_no_event()
    {
        await using var server = await StartAsync();
        var client = server.Client;
        var dataset = await TrainingApiTests.DatasetAsync(client, Encoding.UTF8.GetBytes("x,y\n" + string.Concat(Enumerable.Range(0, 40).Select(i => $"{i},{(2 * i) + 1}\n"))), "line.csv");
        var id = (string)(await (await client.PostAsync("api/v1/training/jobs", Api.Json(
            $$"""{"model": "{{Names.Unique("line")}}", "dataset": "{{dataset}}", "task": "regression", "label": "y", "trainer": "sdca"}"""))).JsonAsync(HttpStatusCode.Accepted))["id"]!;
        Assert.Equal(id, (await ClaimAsync(server, "training")).Id);

        var first = await (await client.DeleteAsync($"api/v1/training/jobs/{id}")).JsonAsync(HttpStatusCode.Accepted);
        Assert.Equal(("running", true), ((string?)first["status"], (bool)first["cancel_requested"]!));

        // Until its worker stops it, the job says it is being cancelled.
        Assert.Equal("cancelling", (string?)first["stage"]);
        Assert.Equal("cancelling", (string?)(await (await client.GetAsync($"api/v1/jobs/{id}")).JsonAsync(HttpStatusCode.OK))["stage"]);

        // A second cancel answered 202 again and logged another cancel_requested; every route now refuses it alike.
        await (await client.PostAsync($"api/v1/training/jobs/{id}/cancel", null)).ErrorAsync(HttpStatusCode.Conflict, "job_finished");
        await (await client.DeleteAsync($"api/v1/training/jobs/{id}")).ErrorAsync(HttpStatusCode.Conflict, "job_finished");
        var refused = await (await client.DeleteAsync($"api/v1/jobs/{id}")).ErrorAsync(HttpStatusCode.Conflict, "job_finished");
        Assert.Contains("already being cancelled", (string?)refused["message"]);

        var events = await EventsAsync(client, $"api/v1/training/jobs/{id}/events");
        Assert.Single(events, e => (string?)e!["type"] == "cancel_requested");
        Assert.Single(await EventsAsync(client, $"api/v1/jobs/{id}/events"), e => (string?)e!["type"] == "cancel_requested");

        // Event numbers are 64-bit, and so is "after" (it stopped at 2147483647 with 400 "out of range").
        foreach (var route in new[] { $"api/v1/training/jobs/{id}/events", $"api/v1/jobs/{id}/events" })
        {
            var far = await (await client.GetAsync($"{route}?after={long.MaxValue}")).JsonAsync(HttpStatusCode.OK);
            Assert.Equal((0, long.MaxValue), (far["events"]!.AsArray().Count, (long)far["next_after"]!));
            var beyond = await (await client.GetAsync($"{route}?after=9223372036854775808")).ErrorAsync(HttpStatusCode.BadRequest, "invalid_query");
            Assert.Contains("out of range", (string?)beyond["message"]);
        }
    }

    [Fact]
    public async Task A_second_fine_tuning_cancel_is_job_finished_and_the_job_reads_cancelled_meanwhile()
    {
        await using var server = await StartAsync();
        var client = server.Client;
        var now = DateTimeOffset.UtcNow;
        var spec = new FineTuningSpec
        {
            Model = "base",
            BaseModel = "base",
            BaseVersion = 1,
            TrainingFile = "file-1",
            TrainingSha256 = new string('0', 64),
            Epochs = 1,
            LearningRateMultiplier = 1,
            LearningRate = 1e-5,
            Seed = 1,
            TargetModel = Names.Unique("base-ft"),
            Window = 64,
        };
        var id = "ftjob-" + Names.Unique("c");
        await server.Services.GetRequiredService<IJobQueueStore>().EnqueueAsync(
            new QueuedJob
            {
                Id = id,
                Kind = FineTuningSpec.Kind,
                Tenant = "default",
                Status = JobStatus.Queued,
                Spec = JsonSerializer.Serialize(spec, RegistryJson.Options),
                CreatedAt = now,
                UpdatedAt = now,
            },
            CancellationToken.None);
        Assert.Equal(id, (await ClaimAsync(server, FineTuningSpec.Kind)).Id);

        Assert.Equal("cancelled", (string?)(await (await client.PostAsync($"v1/fine_tuning/jobs/{id}/cancel", null)).JsonAsync(HttpStatusCode.OK))["status"]);

        // It read "running" again right after being answered "cancelled", and a second cancel answered 200 with a second
        // "Cancellation requested" event.
        Assert.Equal("cancelled", (string?)(await (await client.GetAsync($"v1/fine_tuning/jobs/{id}")).JsonAsync(HttpStatusCode.OK))["status"]);
        using var second = await client.PostAsync($"v1/fine_tuning/jobs/{id}/cancel", null);
        var text = await second.Content.ReadAsStringAsync();
        Assert.True(second.StatusCode == HttpStatusCode.BadRequest, text);
        Assert.Equal("job_finished", (string?)JsonNode.Parse(text)!["error"]!["code"]);
        await (await client.DeleteAsync($"api/v1/jobs/{id}")).ErrorAsync(HttpStatusCode.Conflict, "job_finished");

        var events = await EventsAsync(client, $"v1/fine_tuning/jobs/{id}/events");
        Assert.Single(events, e => (string?)e!["message"] == "Cancellation requested");
    }
}
