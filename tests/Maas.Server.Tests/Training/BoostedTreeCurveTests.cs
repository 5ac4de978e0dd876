using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Maas.Server.Tests.Support;
using Maas.Testing;

namespace Maas.Server.Tests.Training;

/// <summary>LightGBM and FastTree jobs report a curve per boosting iteration, like a network's epochs.</summary>
public sealed class BoostedTreeCurveTests(TrainingServer servers) : IClassFixture<TrainingServer>
{
    [Theory]
    [InlineData("lightgbm", "multiclass-classification", "iterations")]
    [InlineData("lightgbm", "binary-classification", "iterations")]
    [InlineData("fasttree", "regression", "trees")]
    public async Task A_boosted_tree_job_emits_iteration_events_whose_last_point_is_the_final_validation_metric(string trainer, string task, string count)
    {
        var client = (await servers.GetAsync(Db.Sqlite)).Client;
        var dataset = await TrainingApiTests.DatasetAsync(client, Encoding.UTF8.GetBytes(NoisyTable(task)), "noisy.csv");
        var job = await TrainingApiTests.TrainAsync(client, $$"""
            {"model": "{{Names.Unique("trees")}}", "dataset": "{{dataset}}", "task": "{{task}}", "label": "label", "trainer": "{{trainer}}",
             "hyperparameters": {"{{count}}": 30, "min_examples_per_leaf": 5}, "split": {"validation": 0.2, "test": 0.2, "seed": 3} }
            """);
        Assert.True((string?)job["status"] == "succeeded", job.ToJsonString());

        var events = (await (await client.GetAsync($"api/v1/training/jobs/{job["id"]}/events?limit=1000")).JsonAsync(HttpStatusCode.OK))["events"]!.AsArray();
        var points = events.Where(e => (string?)e!["type"] == "iteration").Select(e => e!["data"]!).ToArray();
        Assert.Equal(Enumerable.Range(1, 30), points.Select(p => (int)p["iteration"]!));
        var progress = events.Where(e => (string?)e!["type"] == "progress" && e!["data"]!["iteration"] is not null).Select(e => (double)e!["data"]!["percent"]!).ToArray();
        Assert.NotEmpty(progress);
        Assert.Equal(progress.Order(), progress);

        // The training loss falls as trees are added, and the last point is the model the job evaluated.
        var validation = events.Last(e => (string?)e!["type"] == "metrics" && (string?)e["data"]!["split"] == "validation")!["data"]!["metrics"]!;
        var (train, check, final) = task == "regression" ? ("train_rmse", "validation_rmse", "rmse") : ("train_loss", "validation_loss", "log_loss");
        Assert.True((double)points[^1][train]! < 0.8 * (double)points[0][train]!, $"{train}: {points[0][train]} at the first iteration, {points[^1][train]} at the last");
        Assert.Equal((double)validation[final]!, (double)points[^1][check]!, 4);
        if (task != "regression")
        {
            Assert.Equal((double)validation["accuracy"]!, (double)points[^1]["validation_accuracy"]!, 9);
            Assert.All(points, p => Assert.InRange((double)p["train_accuracy"]!, 0, 1));
        }
    }

    // 300 rows of two features whose label is a noisy function of them, so no iteration fits them perfectly.
    private static string NoisyTable(string task)
    {
        var random = new Random(11);
        var csv = new StringBuilder("x1,x2,label\n");
        for (var i = 0; i < 300; i++)
        {
            var (x1, x2) = (random.NextDouble(), random.NextDouble());
            var noise = 0.15 * (random.NextDouble() - 0.5);
            object label = task switch
            {
                "regression" => Math.Sin(3 * x1) + x2 + noise,
                "binary-classification" => x1 + x2 + noise > 1 ? "yes" : "no",
                _ => (x1 + noise) switch { < 0.33 => "a", < 0.66 => "b", _ => "c" },
            };
            csv.Append(CultureInfo.InvariantCulture, $"{x1:R},{x2:R},{label}\n");
        }

        return csv.ToString();
    }
}
