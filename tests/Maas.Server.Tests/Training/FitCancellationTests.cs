using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Maas.Core.Datasets;
using Maas.Core.Training;
using Maas.Server.Tests.Support;
using Maas.Testing;
using Maas.Training;

namespace Maas.Server.Tests.Training;

/// <summary>
/// Cancelling a table job stops ML.NET's fit at the trainer's next check (a tree, a boosting round, a pass) instead of
/// waiting for the whole fit: the job ends cancelled, as one cancelled between epochs, with nothing registered.
/// </summary>
public sealed class FitCancellationTests
{
    // FastTree's fit says "numTotalTrees left" once before each tree it builds (a trace message of ML.NET's log), which
    // the tests use to count the trees a fit started, as FitProgress does to report a fit's progress.
    private const string TreeStarted = FitProgress.TreeStarted;

    [Fact]
    public void This_ml_net_has_the_switch_that_stops_a_running_fit()
    {
        // MLContext.CancelExecution is internal in ML.NET 6 and reached by reflection: an upgrade that drops it fails here.
        Assert.True(MlNetCancellation.Available, "MLContext.CancelExecution was not found: a cancel would wait for the whole fit");
    }

    [Fact]
    public void A_cancel_during_a_FastTree_fit_stops_it_at_the_next_tree()
    {
        const int Trees = 10_000;
        var data = Table("regression", rows: 2000, trees: Trees, "fasttree");
        using var cancel = new CancellationTokenSource();
        using var trainer = new TabularTrainer(data, threads: 1, cancel.Token);
        var started = 0;
        trainer.Context.Log += (_, e) =>
        {
            // Cancelled from the fit's own thread once it has started its third tree: no race with the fit.
            if (e.Message.Contains(TreeStarted, StringComparison.Ordinal) && Interlocked.Increment(ref started) == 3)
            {
                cancel.Cancel();
            }
        };
        var (train, _, _) = data.Split();
        using var folder = new TempDirectory();
        var view = trainer.Load(data.Write(Path.Combine(folder.Path, "train.tsv"), train), withLabel: true);

        // The job's cancellation (not "training_failed"), although FastTree's parallel split search wraps it.
        Assert.ThrowsAny<OperationCanceledException>(() => TrainingJobHandler.Fit(trainer, trainer.LabelMapping(view).Transform(view), data.Spec));

        // The fit's own count of trees stopped where it was cancelled, far from the 10,000 it was asked for.
        Assert.InRange(Volatile.Read(ref started), 3, 4);
    }

    [Theory]
    [InlineData("lightgbm", "multiclass-classification")]
    [InlineData("fasttree", "multiclass-classification")]
    [InlineData("sdca", "binary-classification")]
    public void A_fit_whose_job_was_cancelled_before_it_started_stops_at_its_first_check(string trainerName, string task)
    {
        var data = Table(task, rows: 400, trees: 10_000, trainerName);
        using var cancel = new CancellationTokenSource();
        using var trainer = new TabularTrainer(data, threads: 1, cancel.Token);
        var (train, _, _) = data.Split();
        using var folder = new TempDirectory();
        var view = trainer.Load(data.Write(Path.Combine(folder.Path, "train.tsv"), train), withLabel: true);
        var mapped = trainer.LabelMapping(view).Transform(view);
        cancel.Cancel();

        Assert.ThrowsAny<OperationCanceledException>(() => TrainingJobHandler.Fit(trainer, mapped, data.Spec));
    }

    [Fact]
    public void A_dataset_read_and_the_table_files_written_for_ML_NET_stop_once_the_job_is_cancelled()
    {
        using var folder = new TempDirectory();
        var csv = Path.Combine(folder.Path, "rows.csv");
        File.WriteAllText(csv, Csv(20_000, 10));
        using var cancel = new CancellationTokenSource();
        var table = DatasetCatalog.ParseFile(csv, DatasetFormat.Csv, gzip: false, cancellationToken: cancel.Token);
        Assert.Equal(20_000, table.Rows.Count);

        // The read of a stored file stops at its next read of the file, the table file at its next block of rows.
        cancel.Cancel();
        Assert.ThrowsAny<OperationCanceledException>(() => DatasetCatalog.ParseFile(csv, DatasetFormat.Csv, gzip: false, cancellationToken: cancel.Token));
        var data = Table("regression", rows: 5000, trees: 1, "fasttree");
        var (train, _, _) = data.Split();
        Assert.ThrowsAny<OperationCanceledException>(() => data.Write(Path.Combine(folder.Path, "train.tsv"), train, cancellationToken: cancel.Token));
    }

    [Fact]
    public async Task A_table_job_cancelled_while_it_fits_ends_cancelled_long_before_its_fit_could_have_with_nothing_registered()
    {
        await using var server = await MaasTestServer.StartAsync(settings: new Dictionary<string, string?>
        {
            ["Maas:Training:PollMilliseconds"] = "100",
            ["Maas:Training:Threads"] = "1",
        });
        var client = server.Client;

        // Ten classes, so FastTree fits ten one-versus-all models of 10,000 trees each: 100,000 trees of up to 64 leaves
        // over 3,000 rows. Even at 1 ms a tree (this machine takes tens of milliseconds for one) the whole fit would take
        // 100 s; a job whose cancel waited for the fit could not end within half of that.
        const int Classes = 10, Trees = 10_000;
        var fullFitAtLeast = TimeSpan.FromMilliseconds(Classes * Trees * 1.0);
        var dataset = await TrainingApiTests.DatasetAsync(client, Encoding.UTF8.GetBytes(Csv(3000, Classes)), "classes.csv");
        var model = Names.Unique("fitcancel");
        using var submitted = await client.PostAsync("api/v1/training/jobs", Api.Json($$"""
            {"model": "{{model}}", "dataset": "{{dataset}}", "task": "multiclass-classification", "label": "label", "trainer": "fasttree",
             "hyperparameters": {"trees": {{Trees}}, "leaves": 64, "min_examples_per_leaf": 2}, "split": {"validation": 0.1, "test": 0.2, "seed": 4} }
            """));
        var id = (string)(await submitted.JsonAsync(HttpStatusCode.Accepted))["id"]!;

        // The job says it fits (its "training" stage is reported right before the fit starts).
        var fitting = await Conditions.ReadUntilAsync(() => JobAsync(client, id), j => (string?)j["stage"] == "training" || (string?)j["status"] is not ("queued" or "running"),
            "the job fits", show: j => j.ToJsonString());
        Assert.True((string?)fitting["status"] == "running", fitting.ToJsonString());

        var cancelled = Stopwatch.StartNew();
        (await client.PostAsync($"api/v1/training/jobs/{id}/cancel", null)).EnsureSuccessStatusCode();
        var done = await Conditions.ReadUntilAsync(() => JobAsync(client, id), j => (string?)j["status"] is "succeeded" or "failed" or "cancelled", "the job ends", fullFitAtLeast,
            j => j.ToJsonString());
        var took = cancelled.Elapsed;

        Assert.True((string?)done["status"] == "cancelled", done.ToJsonString());
        Assert.Equal("cancelled", (string?)done["error"]!["code"]);
        Assert.True(took < fullFitAtLeast / 2, $"the job ended {took.TotalSeconds:F1} s after its cancel; its full fit takes at least {fullFitAtLeast.TotalSeconds:F0} s");

        // It stopped inside the fit (the trainer's check threw), not after it: no iteration curve, no "trained" checkpoint.
        var events = (await (await client.GetAsync($"api/v1/training/jobs/{id}/events?limit=1000")).JsonAsync(HttpStatusCode.OK))["events"]!.AsArray().Select(e => e!).ToArray();
        var stopped = Assert.Single(events,
            e => (string?)e["type"] == "log" && ((string?)e["data"]!["message"])!.StartsWith("the fit was stopped after", StringComparison.Ordinal));
        Assert.True((double)stopped["data"]!["fit_seconds"]! < fullFitAtLeast.TotalSeconds, stopped.ToJsonString());
        Assert.DoesNotContain(events, e => (string?)e["type"] is "iteration" or "checkpoint" or "metrics");
        Assert.Equal("cancelled", (string?)events.Last(e => (string?)e["type"] == "status")["data"]!["status"]);

        // Nothing was registered, and the job's scratch folder is gone.
        using (var versions = await client.GetAsync($"api/v1/models/{model}/versions"))
        {
            if (versions.StatusCode != HttpStatusCode.NotFound)
            {
                Assert.Empty((await versions.JsonAsync(HttpStatusCode.OK))["versions"]!.AsArray());
            }
        }

        var scratch = Path.Combine(server.DataDir, "tmp", "jobs");
        Assert.Empty(Directory.Exists(scratch) ? Directory.GetDirectories(scratch, id + "-*") : []);
    }

    private static async Task<JsonNode> JobAsync(HttpClient client, string id) =>
        await (await client.GetAsync($"api/v1/training/jobs/{id}")).JsonAsync(HttpStatusCode.OK);

    // Rows of eight features and a label that depends on them with noise, so boosting never runs out of splits.
    internal static string Csv(int rows, int classes)
    {
        var random = new Random(17);
        var csv = new StringBuilder("f0,f1,f2,f3,f4,f5,f6,f7,label\n");
        for (var r = 0; r < rows; r++)
        {
            var f = Enumerable.Range(0, 8).Select(_ => random.NextDouble()).ToArray();
            var score = Math.Sin(5 * f[0]) + (f[1] * f[2]) + f[3] + (0.3 * random.NextDouble());
            var label = classes == 0
                ? score.ToString("R", CultureInfo.InvariantCulture)
                : "c" + Math.Clamp((int)((score + 1) / 3.3 * classes), 0, classes - 1).ToString(CultureInfo.InvariantCulture);
            csv.AppendJoin(',', f.Select(v => v.ToString("R", CultureInfo.InvariantCulture))).Append(',').Append(label).Append('\n');
        }

        return csv.ToString();
    }

    // A table of Csv's rows for a trainer of `task` (regression: the score itself; classification: ten or two classes).
    private static TabularData Table(string task, int rows, int trees, string trainer)
    {
        var classes = task switch { "regression" => 0, "binary-classification" => 2, _ => 10 };
        using var content = new MemoryStream(Encoding.UTF8.GetBytes(Csv(rows, classes)));
        var table = DatasetParser.Parse(content, DatasetFormat.Csv, gzip: false);
        var spec = new TrainingSpec
        {
            Model = "m",
            Dataset = new DatasetReference("d", 1, new string('0', 64)),
            Task = task,
            Label = "label",
            Features = Enumerable.Range(0, 8).Select(i => new TabularFeature($"f{i}", TabularFeature.Number)).ToArray(),
            Trainer = trainer,
            Hyperparameters = trainer switch
            {
                "fasttree" => new Dictionary<string, double> { ["trees"] = trees, ["leaves"] = 64, ["min_examples_per_leaf"] = 2 },
                "lightgbm" => new Dictionary<string, double> { ["iterations"] = trees, ["leaves"] = 64, ["min_examples_per_leaf"] = 2 },
                _ => new Dictionary<string, double>(),
            },
        };
        return TabularData.From(spec, table);
    }
}
