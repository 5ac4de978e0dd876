using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Maas.Server.Tests.Support;
using Maas.Training;

namespace Maas.Server.Tests.Training;

/// <summary>
/// A table job reports its fit's progress while the fit runs where ML.NET says how far it is (FastTree: before each
/// tree), mapped into the fit's share of the job's percent; a trainer that says nothing (SDCA) gets no made-up progress.
/// </summary>
public sealed class FitProgressTests
{
    [Fact]
    public async Task A_FastTree_fit_reports_its_trees_as_rising_percent_and_ends_at_the_fits_share()
    {
        await using var server = await MaasTestServer.StartAsync(settings: new Dictionary<string, string?>
        {
            ["Maas:Training:PollMilliseconds"] = "100",
            ["Maas:Training:Threads"] = "1",
        });
        var client = server.Client;

        // Binary: 40 trees; multiclass: one-versus-all, 15 trees for each of 3 classes.
        var binary = await TrainAsync(client, FitCancellationTests.Csv(400, 2), "binary-classification", """{"trees": 40, "leaves": 4}""");
        var multiclass = await TrainAsync(client, FitCancellationTests.Csv(400, 3), "multiclass-classification", """{"trees": 15, "leaves": 4}""");
        foreach (var (events, trees) in new[] { (binary, 40), (multiclass, 45) })
        {
            var all = events.Select(e => e.ToJsonString()).ToArray();

            // One log event at each tenth of the trees built (the first nine), then one when the fit ended; their percents rise strictly
            // from the start of the fit's share (10) to its end (55), which the last one reaches.
            var fit = events.Where(e => (string?)e["type"] == "log" && e["data"]!["iterations"] is not null).Select(e => e["data"]!).ToArray();
            Assert.Equal(FitProgress.LogEvents, fit.Length);
            Assert.All(fit, f => Assert.Equal(trees, (int)f["iterations"]!));
            var percents = fit.Select(f => (double)f["percent"]!).ToArray();
            Assert.True(percents.Zip(percents.Skip(1)).All(p => p.First < p.Second), string.Join(", ", percents));
            Assert.True(percents[0] > TrainingJobHandler.FitFromPercent, string.Join(", ", percents));
            Assert.Equal(TrainingJobHandler.FitToPercent, percents[^1]);
            Assert.All(percents[..^1], p => Assert.InRange(p, TrainingJobHandler.FitFromPercent, TrainingJobHandler.FitToPercent - 0.001));
            Assert.StartsWith($"the fit built {trees} of {trees}", (string?)fit[^1]["message"]);
            Assert.Equal(((trees * 9) + 9) / 10, (int)fit[^2]["iteration"]!);

            // The progress stored over the whole job never goes backward, and the fit's stays inside its share.
            var progress = events.Where(e => (string?)e["type"] == "progress").Select(e => ((string)e["data"]!["stage"]!, (double)e["data"]!["percent"]!)).ToArray();
            Assert.True(progress.Zip(progress.Skip(1)).All(p => p.First.Item2 <= p.Second.Item2), string.Join(", ", progress));
            Assert.All(progress.Where(p => p.Item1 == "training"), p => Assert.InRange(p.Item2, TrainingJobHandler.FitFromPercent, TrainingJobHandler.FitToPercent));
        }

        Assert.Contains("(15 trees for each of 3 classes)", (string?)multiclass.Last(e => (string?)e["type"] == "log" && e["data"]!["iterations"] is not null)["data"]!["message"]);
    }

    [Fact]
    public async Task An_SDCA_fit_which_says_nothing_while_it_runs_reports_no_progress_inside_it()
    {
        await using var server = await MaasTestServer.StartAsync(settings: new Dictionary<string, string?>
        {
            ["Maas:Training:PollMilliseconds"] = "100",
            ["Maas:Training:Threads"] = "1",
        });
        var events = await TrainAsync(server.Client, FitCancellationTests.Csv(400, 2), "binary-classification", """{"iterations": 20}""", "sdca");

        Assert.DoesNotContain(events, e => (string?)e["type"] == "log" && e["data"]!["iterations"] is not null);
        Assert.All(events.Where(e => (string?)e["type"] == "progress" && (string?)e["data"]!["stage"] == "training"), e => Assert.Equal(TrainingJobHandler.FitFromPercent, (double)e["data"]!["percent"]!));
    }

    // Trains a model on the rows and returns the job's events once it succeeded.
    private static async Task<JsonNode[]> TrainAsync(HttpClient client, string csv, string task, string hyperparameters, string trainer = "fasttree")
    {
        var dataset = await TrainingApiTests.DatasetAsync(client, Encoding.UTF8.GetBytes(csv), "rows.csv");
        using var submitted = await client.PostAsync("api/v1/training/jobs", Api.Json($$"""
            {"model": "{{Names.Unique("fitprogress")}}", "dataset": "{{dataset}}", "task": "{{task}}", "label": "label", "trainer": "{{trainer}}",
             "hyperparameters": {{hyperparameters}}, "split": {"validation": 0.1, "test": 0.2, "seed": 4} }
            """));
        var id = (string)(await submitted.JsonAsync(HttpStatusCode.Accepted))["id"]!;
        var job = await client.WaitForJobAsync(id, TimeSpan.FromMinutes(3), "api/v1/training/jobs");
        Assert.True((string?)job["status"] == "succeeded", job.ToJsonString());
        return (await (await client.GetAsync($"api/v1/training/jobs/{id}/events?limit=1000")).JsonAsync(HttpStatusCode.OK))["events"]!.AsArray().Select(e => e!).ToArray();
    }
}
