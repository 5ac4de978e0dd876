using System.Net;
using System.Text.Json.Nodes;
using Maas.Server.Tests.Support;

namespace Maas.Server.Tests.Training;

/// <summary>
/// An in-process training job gives way to serving in the same server (Maas:Training:ServingShare): its batches that
/// overlap inference requests are counted and followed by waits, its stage says it yields; with no serving, none.
/// </summary>
public sealed class ServingYieldApiTests
{
    private static readonly Dictionary<string, string?> Settings = new()
    {
        ["Maas:Training:PollMilliseconds"] = "100",
        ["Maas:Training:Threads"] = "1",
        ["Maas:Training:Nice"] = "0",
        ["Maas:Training:ServingShare"] = "0.5",
    };

    [Fact]
    public async Task Training_runs_unthrottled_without_serving_and_yields_while_requests_are_served()
    {
        await using var server = await MaasTestServer.StartAsync(settings: Settings);
        var client = server.Client;
        var (dataset, _, _) = await ImageDatasets.UploadAsync(client, 600, 12, seed: 7, "yield.zip");

        // No serving: every epoch trains without a batch counted as overlapping serving, and no yielding is reported.
        var quiet = await TrainingApiTests.TrainAsync(client, Job(dataset, epochs: 3));
        Assert.True((string?)quiet["status"] == "succeeded", quiet.ToJsonString());
        var quietEvents = await EventsAsync(client, (string)quiet["id"]!);
        var quietEpochs = quietEvents.Where(e => (string?)e["type"] == "epoch").Select(e => e["data"]!).ToArray();
        Assert.Equal(3, quietEpochs.Length);
        Assert.All(quietEpochs, e => Assert.Equal((0, 0.0), ((int)e["serving_batches"]!, (double)e["yielded_seconds"]!)));
        Assert.DoesNotContain(quietEvents, e => (string?)e["type"] == "yielding");

        // Serving while a long job trains: the job reports that it yields, and an epoch counts batches that overlapped serving.
        var model = await client.CreateModelAsync(Names.Unique("served"));
        await client.UploadAsync(model, TestArtifacts.Onnx(), "model.onnx");
        using var submitted = await client.PostAsync("api/v1/training/jobs", Api.Json(Job(dataset, epochs: 1000)));
        var id = (string)(await submitted.JsonAsync(HttpStatusCode.Accepted))["id"]!;
        await Conditions.ReadUntilAsync(() => JobAsync(client, id), j => (string?)j["status"] == "running", "the job runs");

        var served = await Conditions.ReadUntilAsync(
            async () =>
            {
                for (var i = 0; i < 20; i++)
                {
                    using var answer = await client.PostAsync($"v2/models/{model}/infer", Api.Json(Infer));
                    Assert.Equal(HttpStatusCode.OK, answer.StatusCode);
                }

                return await EventsAsync(client, id);
            },
            events => events.Any(e => (string?)e["type"] == "epoch" && (int)e["data"]!["serving_batches"]! > 0),
            "an epoch overlaps serving",
            TimeSpan.FromMinutes(3));
        var yielding = served.First(e => (string?)e["type"] == "yielding")["data"]!;
        Assert.True((bool)yielding["yielding"]!);
        Assert.Equal(0.5, (double)yielding["serving_share"]!);
        var busyEpoch = served.First(e => (string?)e["type"] == "epoch" && (int)e["data"]!["serving_batches"]! > 0)["data"]!;
        Assert.True((double)busyEpoch["yielded_seconds"]! > 0, busyEpoch.ToJsonString());

        // The stage says so while serving goes on (it is written when yielding starts).
        await Conditions.ReadUntilAsync(
            async () =>
            {
                using var answer = await client.PostAsync($"v2/models/{model}/infer", Api.Json(Infer));
                return await JobAsync(client, id);
            },
            j => (string?)j["stage"] == "training (yielding to serving)",
            "the job's stage shows it yields");

        // Serving stops: yielding ends, and a later epoch has no batch that overlapped serving.
        var after = await Conditions.ReadUntilAsync(
            () => EventsAsync(client, id),
            events => events.SkipWhile(e => !((string?)e["type"] == "yielding" && (bool)e["data"]!["yielding"]! == false))
                .Any(e => (string?)e["type"] == "epoch" && (int)e["data"]!["serving_batches"]! == 0),
            "training goes back to full speed once serving is idle",
            TimeSpan.FromMinutes(2));
        Assert.Contains(after, e => (string?)e["type"] == "yielding" && !(bool)e["data"]!["yielding"]!);
        Assert.Equal("training", (string?)(await JobAsync(client, id))["stage"]);

        (await client.PostAsync($"api/v1/training/jobs/{id}/cancel", null)).EnsureSuccessStatusCode();
        Assert.Equal("cancelled", (string?)(await TrainingApiTests.WaitAsync(client, id))["status"]);
    }

    private static readonly string Infer = new JsonObject
    {
        ["inputs"] = new JsonArray(new JsonObject { ["name"] = "input", ["datatype"] = "FP32", ["shape"] = new JsonArray(1, 4), ["data"] = new JsonArray(1.0, 2.0, 3.0, 4.0) }),
    }.ToJsonString();

    private static string Job(string dataset, int epochs) => $$"""
        {"model": "{{Names.Unique("yield")}}", "dataset": "{{dataset}}", "task": "image-classification", "label": "label",
         "hyperparameters": {"epochs": {{epochs}}, "patience": 0, "batch_size": 8}, "split": {"validation": 0.1, "test": 0.2, "seed": 1} }
        """;

    private static async Task<JsonNode> JobAsync(HttpClient client, string id) =>
        await (await client.GetAsync($"api/v1/training/jobs/{id}")).JsonAsync(HttpStatusCode.OK);

    // Every event of the job so far (page by page: a long job has more than one page).
    private static async Task<JsonNode[]> EventsAsync(HttpClient client, string id)
    {
        var all = new List<JsonNode>();
        long after = 0;
        while (true)
        {
            var page = await (await client.GetAsync($"api/v1/training/jobs/{id}/events?limit=1000&after={after}")).JsonAsync(HttpStatusCode.OK);
            var events = page["events"]!.AsArray();
            if (events.Count == 0)
            {
                return [.. all];
            }

            all.AddRange(events.Select(e => e!));
            after = (long)page["next_after"]!;
        }
    }
}
