using System.Globalization;
using System.Net;
using System.Text;
using Maas.Server.Tests.Support;
using Maas.Testing;

namespace Maas.Server.Tests.Training;

/// <summary>Hyperparameter search through the API: trials as child jobs, the best by validation metric registered, the rest in the report.</summary>
public sealed class TrainingSearchTests(TrainingServer servers) : IClassFixture<TrainingServer>
{
    [Fact]
    public async Task A_grid_search_runs_every_trial_as_a_child_job_and_registers_the_best()
    {
        var client = (await servers.GetAsync(Db.Sqlite)).Client;
        var random = new Random(3);
        var csv = new StringBuilder("a,b,label\n");
        for (var i = 0; i < 240; i++)
        {
            // Quadrants: a tree needs several splits, so one tree of two leaves does worse than many trees.
            var (a, b) = ((random.NextDouble() * 2) - 1, (random.NextDouble() * 2) - 1);
            csv.Append(CultureInfo.InvariantCulture, $"{a:R},{b:R},{(a * b > 0 ? "same" : "other")}\n");
        }

        var dataset = await TrainingApiTests.DatasetAsync(client, Encoding.UTF8.GetBytes(csv.ToString()), "quadrants.csv");
        var model = Names.Unique("searched");
        var job = await TrainingApiTests.TrainAsync(client, $$"""
            {"model": "{{model}}", "dataset": "{{dataset}}", "task": "binary-classification", "label": "label", "trainer": "lightgbm",
             "hyperparameters": {"min_examples_per_leaf": 2},
             "split": {"validation": 0.25, "test": 0.2, "seed": 5},
             "search": {"space": {"iterations": [1, 30], "leaves": [2, 8]}, "metric": "accuracy"} }
            """);
        Assert.True((string?)job["status"] == "succeeded", job.ToJsonString());
        var report = job["result"]!["search"]!;
        Assert.Equal("grid", (string?)report["method"]);
        Assert.Equal("validation_accuracy", (string?)report["metric"]);
        var trials = report["trials"]!.AsArray();
        Assert.Equal(4, trials.Count);
        Assert.Equal(
            ["1/2", "1/8", "30/2", "30/8"],
            trials.Select(t => $"{(double)t!["hyperparameters"]!["iterations"]!}/{(double)t["hyperparameters"]!["leaves"]!}").Order());
        Assert.All(trials, t => Assert.Equal("succeeded", (string?)t!["status"]));
        Assert.All(trials, t => Assert.Equal(2, (double)t!["hyperparameters"]!["min_examples_per_leaf"]!));

        // The best is the trial with the highest validation accuracy (the earliest on a tie), and it is what was registered.
        var accuracies = trials.Select(t => (double)t!["metrics"]!["accuracy"]!).ToArray();
        var best = report["best"]!;
        Assert.Equal(accuracies.Max(), (double)best["value"]!);
        Assert.Equal(Array.IndexOf(accuracies, accuracies.Max()), (int)best["trial"]!);
        Assert.True(accuracies.Max() > accuracies.Min(), $"the space should matter on quadrants: {string.Join(", ", accuracies)}");
        var version = await (await client.GetAsync($"api/v1/models/{model}/versions/{(int)job["result"]!["version"]!}")).JsonAsync(HttpStatusCode.OK);
        Assert.Equal((double)best["hyperparameters"]!["iterations"]!, (double)version["lineage"]!["hyperparameters"]!["iterations"]!);
        Assert.Equal((double)best["hyperparameters"]!["leaves"]!, (double)version["lineage"]!["hyperparameters"]!["leaves"]!);
        Assert.Equal(4, version["lineage"]!["search"]!["trials"]!.AsArray().Count);

        // Each trial is a job of its own, finished, and the parent's events name every one.
        foreach (var trial in trials)
        {
            var child = await (await client.GetAsync($"api/v1/training/jobs/{(string?)trial!["job"]}")).JsonAsync(HttpStatusCode.OK);
            Assert.Equal("succeeded", (string?)child["status"]);
        }

        var events = await (await client.GetAsync($"api/v1/training/jobs/{job["id"]}/events?limit=1000")).JsonAsync(HttpStatusCode.OK);
        var trialEvents = events["events"]!.AsArray().Where(e => (string?)e!["type"] == "trial").Select(e => e!["data"]!).ToList();
        Assert.Equal(4, trialEvents.Count);
        Assert.All(trialEvents, e => Assert.Equal(4, (int)e["trials"]!));
        Assert.Equal([0, 1, 2, 3], trialEvents.Select(e => (int)e["trial"]!).Order());
        Assert.All(trialEvents, e => Assert.EndsWith($"-trial{(int)e["trial"]!:D3}", (string?)e["job"], StringComparison.Ordinal));
        var bestLine = events["events"]!.AsArray().Select(e => (string?)e!["data"]!["message"]).Single(m => m?.StartsWith("best trial", StringComparison.Ordinal) == true);
        Assert.StartsWith($"best trial {(int)best["trial"]! + 1} of 4 ({(string?)best["job"]}): validation accuracy", bestLine, StringComparison.Ordinal);

        // The job says how many trials it runs; while it searched, each finished trial was stored at once with the count
        // of those finished and, from the first on, the time left (unknown before: nothing had finished to time it by).
        Assert.Equal(4, (int)job["search_trials"]!);
        var searching = events["events"]!.AsArray().Select(e => e!)
            .Where(e => (string?)e["type"] == "progress" && (string?)e["data"]!["stage"] == "searching").Select(e => e["data"]!).ToList();
        var finished = searching.Select(p => (int)p["iteration"]!).ToList();
        Assert.True(finished.Count > 1 && finished[0] == 0 && finished[^1] == 4 && finished.SequenceEqual(finished.Order()),
            $"trials finished, as stored: {string.Join(", ", finished)}");
        Assert.Null(searching[0]["eta_seconds"]);
        Assert.All(searching.Where(p => (int)p["iteration"]! > 0), p => Assert.True((double?)p["eta_seconds"] > 0, p.ToJsonString()));

        // Progress only goes forward: the final training of the best reports within the share left after the trials
        // (its loading step reported 1% and the job's progress fell back from 60% to it).
        var percents = events["events"]!.AsArray().Select(e => e!).Where(e => (string?)e["type"] == "progress").Select(e => (double)e["data"]!["percent"]!).ToList();
        Assert.True(percents.Count > searching.Count, $"the final training reported no progress: {string.Join(", ", percents)}");
        Assert.True(percents.Zip(percents.Skip(1)).All(p => p.Second >= p.First), $"progress, as stored: {string.Join(", ", percents)}");
        Assert.Equal(100, (double)job["progress"]!);
    }

    [Fact]
    public async Task A_search_that_cannot_run_is_refused_before_it_is_queued()
    {
        var client = (await servers.GetAsync(Db.Sqlite)).Client;
        var dataset = await TrainingApiTests.DatasetAsync(client, LineCsv.Bytes, "line.csv");
        async Task<string> RefusedAsync(string search, string split = "")
        {
            var body = $$"""{"model": "{{Names.Unique("m")}}", "dataset": "{{dataset}}", "task": "regression", "label": "y", "trainer": "sdca"{{split}}, "search": {{search}} }""";
            var error = await (await client.PostAsync("api/v1/training/jobs", Api.Json(body))).ErrorAsync(HttpStatusCode.BadRequest, "invalid_search");
            return (string)error["message"]!;
        }

        Assert.Contains("'depth'", await RefusedAsync("""{"space": {"depth": [1, 2]}}"""));
        Assert.Contains("outside", await RefusedAsync("""{"space": {"l2": [-1]}}"""));
        Assert.Contains("rmse, mae, r2", await RefusedAsync("""{"space": {"l2": [0, 1]}, "metric": "accuracy"}"""));
        Assert.Contains("search.trials", await RefusedAsync("""{"method": "random", "space": {"l2": {"min": 0, "max": 1}}}"""));
        Assert.Contains("MaxSearchTrials", await RefusedAsync("""{"space": {"iterations": {"min": 1, "max": 100, "steps": 60}}}"""));
        Assert.Contains("validation", await RefusedAsync("""{"space": {"l2": [0, 1]}}""", """, "split": {"validation": 0, "test": 0.2}"""));

        // Fields of the wrong JSON type were read as if they had the right one and answered 500.
        Assert.Contains("linear or log", await RefusedAsync("""{"method": "random", "trials": 2, "space": {"l2": {"min": 0, "max": 1, "scale": 5}}}"""));
        Assert.Contains("steps", await RefusedAsync("""{"space": {"l2": {"min": 0, "max": 1, "steps": "x"}}}"""));
        Assert.Contains("search.seed", await RefusedAsync("""{"space": {"l2": [0, 1]}, "seed": "x"}"""));
        Assert.Contains("search.method", await RefusedAsync("""{"space": {"l2": [0, 1]}, "method": 5}"""));

        // A count is a whole number, in a search as in plain hyperparameters.
        Assert.Contains("not a whole number", await RefusedAsync("""{"space": {"iterations": [2.5, 3]}}"""));
        var body = $$"""{"model": "{{Names.Unique("m")}}", "dataset": "{{dataset}}", "task": "regression", "label": "y", "trainer": "sdca", "hyperparameters":""" +
            $$""" {"iterations": 2.5} }""";
        var error = await (await client.PostAsync("api/v1/training/jobs", Api.Json(body))).ErrorAsync(HttpStatusCode.BadRequest, "invalid_hyperparameters");
        Assert.Contains("whole number", (string?)error["message"], StringComparison.Ordinal);
    }
}
