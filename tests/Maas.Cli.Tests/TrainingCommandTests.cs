using System.Globalization;
using System.Text;
using Maas.Cli.Hosting;
using Maas.Cli.Tests.Support;
using Maas.Core.Formats.Gguf;
using Maas.Server.Tests.Support;

namespace Maas.Cli.Tests;

/// <summary><c>maas datasets</c>, <c>train</c>, <c>optimize</c>, <c>fine-tune</c> and <c>jobs</c> over them, run as a process against a real server.</summary>
[Collection(CliServerCollection.Name)]
public sealed class TrainingCommandTests(CliServerFixture fixture) : IDisposable
{
    private readonly TempDirectory _files = new("maas-cli-training");

    public void Dispose() => _files.Dispose();

    // y = 2x + 1 with a little noise, 60 rows: a linear regression trains in a second or two.
    private string LineCsv()
    {
        var random = new Random(11);
        var csv = new StringBuilder("x,colour,y\n");
        for (var i = 0; i < 60; i++)
        {
            var x = random.NextDouble() * 10;
            csv.Append(CultureInfo.InvariantCulture, $"{x:R},{(i % 3 == 0 ? "red" : "blue")},{(2 * x) + 1 + (random.NextDouble() * 0.2):R}\n");
        }

        var path = Path.Combine(_files.Path, "line.csv");
        File.WriteAllText(path, csv.ToString());
        return path;
    }

    [Fact]
    public async Task Datasets_upload_resumable_makes_a_version_and_resume_goes_on_from_where_the_server_is()
    {
        var name = Names.Unique("ds-up");
        var file = LineCsv();
        var whole = (await fixture.RunAsync("datasets", "upload", name, file, "--resumable", "--json")).Json();
        Assert.Equal((1, 60L), ((int?)whole["version"], (long?)whole["rows"]));

        // A first client sent half of the file and went away; push --resume sends the rest and makes the version.
        var bytes = await File.ReadAllBytesAsync(file);
        var session = await fixture.Client.CreateDatasetUploadAsync(name, "line.csv", bytes.Length);
        Assert.Equal(bytes.Length / 2, await fixture.Client.UploadDatasetChunkAsync(name, session.Id, 0, bytes.AsMemory(0, bytes.Length / 2)));
        var resumed = await fixture.RunAsync("datasets", "push", name, file, "--resume", session.Id);
        Assert.True(resumed.ExitCode == 0, resumed.ToString());
        Assert.Contains($"upload session {session.Id}", resumed.Stdout);
        Assert.Contains("uploading line.csv: 100%", resumed.Stdout);
        Assert.Contains($"pushed {name} version 2 (csv, 60 rows", resumed.Stdout);
        Assert.Equal((string?)whole["sha256"], (await fixture.Client.GetDatasetVersionAsync(name, 2)).Sha256);

        // A session that is gone is the server's 404 in one line.
        (await fixture.RunAsync("datasets", "push", name, file, "--resume", session.Id)).AssertFailure(ExitCodes.NotFound, "upload_not_found");
    }

    [Fact]
    public async Task Datasets_push_shows_the_schema_then_list_show_preview_and_rm_work_with_json_shapes()
    {
        var name = Names.Unique("ds");
        var file = LineCsv();

        // For people: progress to 100%, a summary line and the schema with statistics.
        var pushed = await fixture.RunAsync("datasets", "push", name, file);
        Assert.True(pushed.ExitCode == 0, pushed.ToString());
        Assert.Contains("uploading line.csv: 100%", pushed.Stdout);
        Assert.Contains($"pushed {name} version 1 (csv, 60 rows", pushed.Stdout);
        Assert.Matches(@"colour\s*│\s*string", pushed.Stdout);
        Assert.Contains("blue: 40, red: 20", pushed.Stdout);

        // For scripts: the version with schema and statistics.
        var second = (await fixture.RunAsync("datasets", "push", name, file, "--schema", "colour:string", "--json")).Json();
        Assert.Equal(2, (int?)second["version"]);
        Assert.Equal(60, (long?)second["rows"]);
        Assert.Equal(["x", "colour", "y"], second["schema"]!.AsArray().Select(c => (string?)c!["name"]));
        Assert.Equal("number", (string?)second["schema"]![0]!["type"]);
        var x = second["statistics"]!.AsArray().Single(s => (string?)s!["name"] == "x")!;
        Assert.Equal(60, (long?)x["count"]);
        Assert.True((double)x["max"]! <= 10);

        var list = (await fixture.RunAsync("datasets", "list", "--json")).Json().AsArray();
        Assert.Contains(name, list.Select(d => (string?)d!["name"]));
        var shown = (await fixture.RunAsync("datasets", "show", name, "--json")).Json();
        Assert.Equal([1, 2], shown["versions"]!.AsArray().Select(v => (int)v!["version"]!));
        var table = await fixture.RunAsync("datasets", "show", name);
        Assert.Contains("version 2:", table.Stdout);

        var preview = (await fixture.RunAsync("datasets", "preview", name, "-n", "5", "--json")).Json();
        Assert.Equal(60, (long?)preview["rows_total"]);
        Assert.Equal(5, preview["rows"]!.AsArray().Count);
        Assert.Equal("red", (string?)preview["rows"]![0]!["colour"]);
        var previewTable = await fixture.RunAsync("datasets", "preview", name, "--version", "1", "-n", "3");
        Assert.Contains($"3 of 60 rows of {name} version 1", previewTable.Stdout);

        // A bad file is the server's 400 in one line; a missing dataset exits 4.
        var bad = Path.Combine(_files.Path, "bad.csv");
        await File.WriteAllTextAsync(bad, "a,b\n1,2\n3\n");
        (await fixture.RunAsync("datasets", "push", name, bad)).AssertFailure(ExitCodes.Failure, "invalid_dataset");
        Assert.Equal(1, (int?)(await fixture.RunAsync("datasets", "rm", name, "--version", "1", "--json")).Json()["version"]);
        Assert.Equal(name, (string?)(await fixture.RunAsync("datasets", "rm", name, "--json")).Json()["deleted"]);
        (await fixture.RunAsync("datasets", "show", name)).AssertFailure(ExitCodes.NotFound, "dataset_not_found");
    }

    [Fact]
    public async Task Datasets_push_of_a_file_whose_extension_the_server_refuses_exits_2_before_sending_it()
    {
        // The whole file was uploaded (here 2 MiB) before the server's 400 unsupported_format said the name was wrong.
        var name = Names.Unique("ds-ext");
        foreach (var refused in new[] { "rows.xlsx", "rows.parquet.gz" }.Select(n => Path.Combine(_files.Path, n)))
        {
            await File.WriteAllBytesAsync(refused, new byte[2 << 20]);
            var run = await fixture.RunAsync("datasets", "push", name, refused);
            var line = run.AssertFailure(ExitCodes.Usage, "usage");
            Assert.Contains($"'{Path.GetFileName(refused)}' has no dataset extension; use .csv, .tsv, .jsonl", line, StringComparison.Ordinal);
            Assert.DoesNotContain("uploading", run.Stdout, StringComparison.Ordinal);
        }

        // Nothing reached the server: not even the dataset the push would have created.
        var missing = await Assert.ThrowsAsync<Maas.Client.MaasApiException>(() => fixture.Client.GetDatasetAsync(name));
        Assert.Equal("dataset_not_found", missing.Code);
    }

    [Fact]
    public async Task Train_follow_at_a_terminal_leaves_no_squeezed_bar_behind()
    {
        // A terminal (a pseudo-terminal from util-linux's script): the live bar, not the lines of redirected output.
        Assert.True(File.Exists("/usr/bin/script"), "the test needs util-linux's script for a pseudo-terminal");
        var dataset = Names.Unique("line");
        (await fixture.RunAsync("datasets", "push", dataset, LineCsv(), "--json")).Json();
        var command = string.Join(" ", new[] { "dotnet", CliRunner.CliDll(), "train", "--model", Names.Unique("tty"), "--dataset", dataset, "--task", "regression", "--label", "y",
            "--feature", "x", "--follow" });
        var info = new System.Diagnostics.ProcessStartInfo("/usr/bin/script") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in new[] { "-qfec", command, "/dev/null" })
        {
            info.ArgumentList.Add(arg);
        }

        foreach (var (name, value) in fixture.Environment(MaasTestServer.AdminKey))
        {
            info.Environment[name] = value;
        }

        info.Environment["DOTNET_NOLOGO"] = "1";
        using var process = System.Diagnostics.Process.Start(info)!;
        var output = await process.StandardOutput.ReadToEndAsync();
        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromMinutes(3));
        Assert.True(process.ExitCode == 0, output);
        var visible = System.Text.RegularExpressions.Regex.Replace(output, @"\x1b\[[0-9;?]*[A-Za-z]", "\n");
        var lines = visible.Split('\n', '\r').Select(l => l.Trim()).Where(l => l.Length > 0).ToArray();
        Assert.Contains(lines, l => l.Contains("succeeded: ", StringComparison.Ordinal));
        // The bar's label squeezed into an ellipsis alone was left on screen, after the job had ended.
        Assert.DoesNotContain("…", lines);
    }

    [Fact]
    public async Task Train_follow_prints_a_line_per_boosting_iteration_of_a_lightgbm_job()
    {
        var dataset = Names.Unique("line");
        (await fixture.RunAsync("datasets", "push", dataset, LineCsv(), "--json")).Json();
        var run = await fixture.RunAsync("train", "--model", Names.Unique("trees"), "--dataset", dataset, "--task", "regression", "--label", "y",
            "--trainer", "lightgbm", "--hp", "iterations=12", "--hp", "min_examples_per_leaf=3", "--follow");
        Assert.True(run.ExitCode == 0, run.ToString());

        // What the CLI printed: iterations 1 to 12 in order, each with its training and validation RMSE.
        var lines = run.Stdout.Split('\n').Where(l => l.Contains(" iteration ", StringComparison.Ordinal)).ToArray();
        Assert.Equal(Enumerable.Range(1, 12), lines.Select(l => int.Parse(l.Split(" iteration ")[1].Split(':')[0], CultureInfo.InvariantCulture)));
        Assert.All(lines, l => Assert.Matches(@": train_rmse [0-9.]+, validation_rmse [0-9.]+$", l.TrimEnd()));
    }

    [Fact]
    public async Task Train_follow_of_a_search_says_how_many_trials_run_and_which_was_best()
    {
        var dataset = Names.Unique("line");
        (await fixture.RunAsync("datasets", "push", dataset, LineCsv(), "--json")).Json();
        var run = await fixture.RunAsync("train", "--model", Names.Unique("searched"), "--dataset", dataset, "--task", "regression", "--label", "y",
            "--trainer", "sdca", "--search", """{"space": {"l2": [0, 0.5, 1]}, "metric": "rmse"}""", "--follow");
        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Contains("into ", run.Stdout);
        Assert.Contains(", the best of 3 trials", run.Stdout);
        Assert.Matches(@"succeeded: \S+ version 1 \(trial [1-3], the best of 3 trials\)", run.Stdout);

        // A line per trial, counted from 1 with the total, as the best trial is named.
        var trials = run.Stdout.Split('\n').Where(l => l.Contains(" trial ", StringComparison.Ordinal) && l.Contains(" of 3 succeeded: l2 ", StringComparison.Ordinal)).ToArray();
        Assert.Equal([1, 2, 3], trials.Select(l => int.Parse(l.Split(" trial ")[1].Split(' ')[0], CultureInfo.InvariantCulture)).Order());

        // The client reads the count the server returns (it was left in the unknown fields).
        var id = run.Stdout.Split("training job ")[1].Split(':')[0];
        var job = await fixture.Client.GetTrainingJobAsync(id);
        Assert.Equal(3, job.SearchTrials);
        Assert.False(job.Extra?.ContainsKey("search_trials") ?? false);
    }

    // Three far-apart clusters, row i of class i % 3; the rows in flipped carry the next class's label instead.
    private string ClustersCsv(string file, params int[] flipped)
    {
        string[] classes = ["a", "b", "c"];
        var csv = new StringBuilder("x1,x2,cls\n");
        for (var i = 0; i < 30; i++)
        {
            var c = i % 3;
            var jitter = (i % 7) * 0.1;
            csv.Append(CultureInfo.InvariantCulture, $"{(c == 1 ? 10 : 0) + jitter},{(c == 2 ? 10 : 0) - jitter},{classes[flipped.Contains(i) ? (c + 1) % 3 : c]}\n");
        }

        var path = Path.Combine(_files.Path, file);
        File.WriteAllText(path, csv.ToString());
        return path;
    }

    [Fact]
    public async Task Evaluate_follows_the_job_and_prints_the_accuracy_of_a_trained_version_on_another_dataset()
    {
        var training = Names.Unique("clusters");
        (await fixture.RunAsync("datasets", "push", training, ClustersCsv("train.csv"), "--json")).Json();
        var model = Names.Unique("clusters");
        var trained = (await fixture.RunAsync("train", "--model", model, "--dataset", training, "--task", "multiclass-classification", "--label", "cls", "--trainer", "lbfgs",
            "--follow", "--json")).Json();
        Assert.True((string?)trained["status"] == "succeeded", trained.ToJsonString());

        // 6 of 30 labels flipped: the version is right on the other 24, an accuracy of 0.8.
        var held = Names.Unique("held");
        (await fixture.RunAsync("datasets", "push", held, ClustersCsv("held.csv", 0, 4, 8, 13, 20, 29), "--json")).Json();
        var run = await fixture.RunAsync("evaluate", model, "--version", "1", "--dataset", held + ":1", "--follow");
        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Contains("stage scoring", run.Stdout);
        Assert.Matches(@"accuracy\s*│\s*0\.8\s*│", run.Stdout);
        Assert.Matches(@"rows\s*│\s*30\s*│", run.Stdout);

        var json = (await fixture.RunAsync("evaluate", model, "--version", "1", "--dataset", held, "--label", "cls", "--follow", "--json")).Json();
        Assert.Equal(("evaluation", "succeeded"), ((string?)json["kind"], (string?)json["status"]));
        Assert.Equal(0.8, (double)json["result"]!["accuracy"]!, 12);

        // A worker-run job counts no bytes: the server sends no bytes_done, and the printed job has none (not a made-up 0).
        Assert.False(json.AsObject().ContainsKey("bytes_done"), json.ToJsonString());

        // The server's refusal is one line with its code.
        (await fixture.RunAsync("evaluate", model, "--version", "1", "--dataset", Names.Unique("none"))).AssertFailure(ExitCodes.NotFound, "dataset_not_found");
    }

    [Fact]
    public async Task Train_follows_a_regression_to_the_end_and_jobs_list_logs_and_cancel_cover_training_jobs()
    {
        var dataset = Names.Unique("line");
        (await fixture.RunAsync("datasets", "push", dataset, LineCsv(), "--json")).Json();
        var model = Names.Unique("trained");

        // Followed without --json: one line per event (stages, validation and test metrics), then the evaluation.
        var run = await fixture.RunAsync("train", "--model", model, "--dataset", dataset, "--task", "regression", "--label", "y", "--feature", "x", "--follow");
        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Contains("stage training", run.Stdout);
        Assert.Matches(@"metrics \(test\): .*rmse", run.Stdout);
        Assert.Contains($"succeeded: {model} version 1", run.Stdout);
        Assert.Matches(@"r2\s*│", run.Stdout);

        // From a JSON file, a flag replacing one field; --json prints the ended job.
        var spec = Path.Combine(_files.Path, "job.json");
        await File.WriteAllTextAsync(spec,
            $$"""{"model": "{{model}}", "dataset": "{{dataset}}:1", "task": "regression", "label": "y", "trainer": "lightgbm", "hyperparameters": {"iterations": 5} }""");
        var job = (await fixture.RunAsync("train", "-f", spec, "--trainer", "sdca", "--hp", "iterations=20", "--follow", "--json")).Json();
        Assert.Equal("succeeded", (string?)job["status"]);
        Assert.Equal("sdca", (string?)job["trainer"]);
        Assert.Equal(2, (int?)job["result"]!["version"]);
        Assert.True((double)job["result"]!["evaluation"]!["r2"]! > 0.9, job.ToJsonString());
        var id = (string)job["id"]!;

        var jobs = (await fixture.RunAsync("jobs", "list", "--kind", "training", "--json")).Json().AsArray();
        var listed = jobs.Single(j => (string?)j!["id"] == id)!;
        Assert.Equal("training", (string?)listed["kind"]);
        Assert.Equal("succeeded", (string?)listed["status"]);
        // The table names the version the job registered (VERSION is an optimisation's source; a training job has none).
        Assert.Matches($@"{id}\s*│\s*training\s*│\s*succeeded\s*│[^│\n]*│[^│\n]*│\s*v2\s*│", (await fixture.RunAsync("jobs", "list")).Stdout);
        var logs = await fixture.RunAsync("jobs", "logs", id);
        Assert.True(logs.ExitCode == 0, logs.ToString());
        Assert.Contains("metrics (validation)", logs.Stdout);
        // Its details show the percent alone: bytes are an import's measure, and a training job moves none.
        var shown = await fixture.RunAsync("jobs", "show", id);
        Assert.True(shown.ExitCode == 0, shown.ToString());
        Assert.Matches(@"(?m)^progress\s+100%\s*$", shown.Stdout);
        (await fixture.RunAsync("jobs", "cancel", id)).AssertFailure(ExitCodes.Conflict, "job_finished");

        // The caller's mistakes are one line with the server's code; a missing option is a usage error.
        (await fixture.RunAsync("train", "--model", model, "--dataset", dataset, "--task", "regression", "--label", "nope")).AssertFailure(ExitCodes.Failure, "invalid_label");
        (await fixture.RunAsync("train", "--model", model, "--dataset", dataset)).AssertFailure(ExitCodes.Usage, "usage");
    }

    [Fact]
    public async Task Predict_scores_json_rows_and_the_datasets_own_csv_with_a_trained_classifier()
    {
        // Two classes split at x = 5, 80 rows; the label column stays in the file predict is given.
        var random = new Random(3);
        var csv = new StringBuilder("x,noise,side\n");
        var truth = new List<string>();
        for (var i = 0; i < 80; i++)
        {
            var x = random.NextDouble() * 10;
            truth.Add(x < 5 ? "left" : "right");
            csv.Append(CultureInfo.InvariantCulture, $"{x:R},{random.NextDouble():R},{truth[^1]}\n");
        }

        var file = Path.Combine(_files.Path, "sides.csv");
        await File.WriteAllTextAsync(file, csv.ToString());
        var dataset = Names.Unique("sides");
        (await fixture.RunAsync("datasets", "push", dataset, file, "--json")).Json();
        var model = Names.Unique("sides");
        var trained = await fixture.RunAsync("train", "--model", model, "--dataset", dataset, "--task", "multiclass-classification", "--label", "side",
            "--trainer", "lbfgs", "--alias", "production", "--follow", "--json");
        Assert.True(trained.ExitCode == 0, trained.ToString());

        // For people: a row per instance with its label, the label's probability and the top classes.
        var one = await fixture.RunAsync("predict", $"{model}:production", """{"x": 0.5, "noise": 0.3}""");
        Assert.True(one.ExitCode == 0, one.ToString());
        Assert.Contains($"{model} version 1, 1 row\n", one.Stdout.ReplaceLineEndings("\n"));
        Assert.Matches(@"│ 0\s*│ left\s*│ 0\.\d+\s*│ left: 0\.\d+  right: 0\.\d+", one.Stdout);

        // The dataset's own file: the label column is left out and said so; the answers agree with the truth.
        var table = await fixture.RunAsync("predict", model, "--file", file, "--top", "1");
        Assert.True(table.ExitCode == 0, table.ToString());
        Assert.Contains("left out (not features): side", table.Stdout);
        var scored = (await fixture.RunAsync("predict", model, "-f", file, "--json")).Json();
        Assert.Equal(["side"], scored["ignored_columns"]!.AsArray().Select(c => (string?)c));
        var labels = scored["predictions"]!.AsArray().Select(p => (string?)p!["label"]).ToList();
        Assert.Equal(truth.Count, labels.Count);
        Assert.True(labels.Zip(truth).Count(p => p.First == p.Second) >= 0.9 * truth.Count, string.Join(",", labels));

        // The version's evaluation on its test split and its lineage, without reading the API's JSON: `models show`
        // listed versions only, so a trained model's accuracy could be seen only while following its job.
        var shown = await fixture.RunAsync("models", "show", model, "--version", "1");
        Assert.True(shown.ExitCode == 0, shown.ToString());
        Assert.Matches(@"trained on\s+" + dataset + ":1", shown.Stdout);
        Assert.Matches(@"trainer\s+lbfgs", shown.Stdout);
        Assert.Matches(@"input\s*│\s*x\s*│\s*FP32", shown.Stdout);
        Assert.Matches(@"EVALUATION\s*│\s*VALUE", shown.Stdout);
        Assert.Matches(@"accuracy\s*│\s*(1|0\.\d+)\s*│", shown.Stdout);
        var shownJson = (await fixture.RunAsync("models", "show", model, "--version", "1", "--json")).Json();
        Assert.Equal(1, (int?)shownJson["version"]);
        Assert.NotNull(shownJson["evaluation"]!["accuracy"]);
        (await fixture.RunAsync("models", "show", model, "--version", "7")).AssertFailure(ExitCodes.NotFound, "version_not_found");

        // Deleting the dataset the model was trained from is refused; the line names the command's flag, not the
        // API's query parameter ("pass force=true").
        var inUse = (await fixture.RunAsync("datasets", "rm", dataset)).AssertFailure(ExitCodes.Conflict, "dataset_in_use");
        Assert.Contains("pass --force", inUse, StringComparison.Ordinal);
        Assert.DoesNotContain("force=true", inUse, StringComparison.Ordinal);

        // JSON from stdin and in the request's own shape give the same answer as the argument.
        var fromStdin = (await fixture.RunWithInputAsync("""{"instances": [{"x": 0.5, "noise": 0.3}]}""", "predict", model, "-", "--json")).Json();
        Assert.Equal("left", (string?)fromStdin["predictions"]![0]!["label"]);

        // Mistakes: the server's 400 in one line; what the CLI can tell before sending is a usage error.
        (await fixture.RunAsync("predict", model, "[1]")).AssertFailure(ExitCodes.Failure, "invalid_input");
        (await fixture.RunAsync("predict", model, """{"colour": "red"}""")).AssertFailure(ExitCodes.Failure, "invalid_input");
        (await fixture.RunAsync("predict", model)).AssertFailure(ExitCodes.Usage, "missing_input");
        (await fixture.RunAsync("predict", model, "{x")).AssertFailure(ExitCodes.Usage, "invalid_json");
        (await fixture.RunAsync("predict", model, "-f", file, "--top", "0")).AssertFailure(ExitCodes.Usage, "usage");
        (await fixture.RunAsync("predict", model, "-f", Path.Combine(_files.Path, "absent.csv"))).AssertFailure(ExitCodes.Failure, "file_not_found");
    }

    [Fact]
    public async Task A_hyperparameter_without_a_value_is_a_usage_error_naming_hp_and_nothing_is_submitted()
    {
        var model = Names.Unique("hp");
        foreach (var (hp, message) in new[] { ("iterations", "--hp: 'iterations' is not key=value"), ("=5", "--hp: '=5' is not key=value"), ("epochs=many",
            "--hp epochs=many: the value is not a number") })
        {
            var run = await fixture.RunAsync("train", "--model", model, "--dataset", "line", "--task", "regression", "--label", "y", "--hp", hp);
            Assert.Contains(message, run.AssertFailure(ExitCodes.Usage, "usage"));
        }

        var jobs = (await fixture.RunAsync("jobs", "list", "--kind", "training", "--json")).Json().AsArray();
        Assert.DoesNotContain(jobs, j => (string?)j!["model"] == model);
    }

    [Fact]
    public async Task Optimize_registers_a_float16_version_with_its_report_and_a_bad_method_exits_1()
    {
        var name = Names.Unique("opt");
        var file = Path.Combine(_files.Path, "mlp.onnx");
        await File.WriteAllBytesAsync(file, TestArtifacts.Onnx(seed: 5));
        (await fixture.RunAsync("models", "push", name, file, "--json")).Json();

        var human = await fixture.RunAsync("optimize", name, "1", "--method", "onnx-fp16", "-o", "samples=4");
        Assert.True(human.ExitCode == 0, human.ToString());
        Assert.Contains($"{name} version 2: ready", human.Stdout);
        Assert.Matches(@"size_ratio\s*│", human.Stdout);
        Assert.Matches(@"finite_outputs\s*│", human.Stdout);

        // The job's id comes first, as train's does; the gate's checks show numbers as the report does and no
        // "null" for a check without a threshold (the value was 0.008665721142884629 next to a report of 0.0087).
        Assert.Matches($@"^optimisation job opt_\w+: onnx-fp16 of {name} version 1\n", human.Stdout.ReplaceLineEndings("\n"));
        Assert.DoesNotContain("null", human.Stdout, StringComparison.Ordinal);
        Assert.Matches(@"max_relative_mean_abs_diff\s*│\s*relative_mean_abs_diff\s*│\s*(\d\.\d{1,4}|\d(\.\d+)?E-\d+|0)\s*│\s*0\.05\s*│\s*true", human.Stdout);

        // The version shows where it came from and its report again, later.
        var version = await fixture.RunAsync("models", "show", name, "--version", "2");
        Assert.True(version.ExitCode == 0, version.ToString());
        Assert.Matches($@"derived from\s+{name} version 1 \(", version.Stdout);
        Assert.Matches(@"optimisation\s+onnx-fp16 \(ready, job opt_\w+\)", version.Stdout);
        Assert.Matches(@"size_ratio\s*│", version.Stdout);
        Assert.Matches(@"finite_outputs\s*│", version.Stdout);

        // The measurements event is one readable line of numbers (it was the report as escaped JSON text).
        Assert.Matches(@"metrics \(ready\): samples 4, .*size_ratio \d", human.Stdout);
        Assert.DoesNotContain("\\\"", human.Stdout, StringComparison.Ordinal);
        Assert.Matches(@"status running \(worker .+, attempt 1\)", human.Stdout); // was "status: status running, worker ..."
        Assert.Matches(@"\d status succeeded\n", human.Stdout.ReplaceLineEndings("\n"));

        var job = (await fixture.RunAsync("optimize", name, "--version", "1", "--method", "onnx-int8-dynamic", "--gate", "max_relative_mean_abs_diff=0.5", "--alias", "fast",
            "--json")).Json();
        Assert.Equal("succeeded", (string?)job["status"]);
        Assert.Equal("optimization", (string?)job["kind"]);
        Assert.Equal(3, (int?)job["result"]!["version"]);
        Assert.Equal("ready", (string?)job["result"]!["status"]);
        Assert.True((bool)job["result"]!["report"]!["gate"]!["passed"]!);
        Assert.Equal(3, (await fixture.Client.ListAliasesAsync(name)).Aliases.Single(a => a.Name == "fast").Version);
        var listed = (await fixture.RunAsync("jobs", "list", "--kind", "optimization", "--json")).Json().AsArray();
        Assert.Contains((string?)job["id"], listed.Select(j => (string?)j!["id"]));

        (await fixture.RunAsync("optimize", name, "1", "--method", "no-such-method")).AssertFailure(ExitCodes.Failure, "invalid_method");
        (await fixture.RunAsync("optimize", name, "9", "--method", "onnx-fp16")).AssertFailure(ExitCodes.NotFound, "version_not_found");
        (await fixture.RunAsync("optimize", name, "--version", "9", "--method", "onnx-fp16")).AssertFailure(ExitCodes.NotFound, "version_not_found");
    }

    [Fact]
    public async Task Optimize_whose_gate_rejects_the_version_exits_9_with_the_report_and_the_failed_check()
    {
        var name = Names.Unique("optrej");
        var file = Path.Combine(_files.Path, "mlp.onnx");
        await File.WriteAllBytesAsync(file, TestArtifacts.Onnx(seed: 6));
        (await fixture.RunAsync("models", "push", name, file, "--json")).Json();

        // No float16 file is a hundredth of its float32 source, so a size ratio of 0.01 cannot pass: the job succeeds, the version is rejected.
        var human = await fixture.RunAsync("optimize", name, "1", "--method", "onnx-fp16", "-o", "samples=4", "--gate", "max_size_ratio=0.01");
        var line = human.AssertFailure(ExitCodes.Rejected, "optimization_rejected");
        Assert.Matches(@": max_size_ratio \d+(\.\d+)? > 0\.01$", line);
        Assert.Contains($"{name} version 2: rejected", human.Stdout);
        Assert.Matches(@"max_size_ratio\s*│.*│\s*false", human.Stdout);

        // Scripts get the ended job on stdout as with any outcome, and the same exit code.
        var scripted = await fixture.RunAsync("optimize", name, "1", "--method", "onnx-fp16", "--gate", "max_size_ratio=0.01", "--json");
        scripted.AssertFailure(ExitCodes.Rejected, "optimization_rejected");
        var job = System.Text.Json.Nodes.JsonNode.Parse(scripted.Stdout)!;
        Assert.Equal("succeeded", (string?)job["status"]);
        Assert.Equal("rejected", (string?)job["result"]!["status"]);
        Assert.Equal(3, (int?)job["result"]!["version"]);
        Assert.Equal(3, (await fixture.Client.GetVersionAsync(name, 3)).Version); // registered, though rejected

        // A gate it passes still exits 0, and the help lists the code.
        Assert.Equal(ExitCodes.Ok, (await fixture.RunAsync("optimize", name, "1", "--method", "onnx-fp16", "--gate", "max_size_ratio=10", "--json")).ExitCode);
        Assert.Contains("9 an optimisation the gate rejected", (await fixture.RunAsync("--help")).Stdout);
    }

    [Fact]
    public async Task Optimize_sends_a_nested_fine_tune_from_flags_json_and_dotted_options_and_the_pruned_network_trains_on()
    {
        // An MLP a training job made on generated pictures of three classes.
        const int Size = 12;
        var (images, labels) = Maas.Testing.TinyImages.Generate(300, Size, seed: 21);
        var zip = Path.Combine(_files.Path, "shapes.zip");
        await File.WriteAllBytesAsync(zip, Maas.Testing.IdxFiles.Zip(images, labels, Size, Size));
        var dataset = Names.Unique("shapes");
        Assert.Equal(1, (int?)(await fixture.RunAsync("datasets", "push", dataset, zip, "--json")).Json()["version"]);

        // A picture's cell in the preview table is its size (it was "[12 x ...]").
        var preview = await fixture.RunAsync("datasets", "preview", dataset, "-n", "2");
        Assert.True(preview.ExitCode == 0, preview.ToString());
        Assert.Matches(@"│ 12x12 image\s*│", preview.Stdout);
        var model = Names.Unique("mlp");

        // The network from an @FILE value (not a response file of the parser's: a missing one is the command's own error).
        var network = Path.Combine(_files.Path, "network.json");
        await File.WriteAllTextAsync(network, """[{"type": "flatten"}, {"type": "dense", "units": 24}, {"type": "relu"}, {"type": "dense"}]""");
        (await fixture.RunAsync("train", "--model", model, "--dataset", dataset, "--task", "image-classification", "--label", "label",
            "--network", "@" + network + ".missing")).AssertFailure(ExitCodes.Failure, "file_not_found");
        var trained = await fixture.RunAsync("train", "--model", model, "--dataset", dataset, "--task", "image-classification", "--label", "label",
            "--network", "@" + network,
            "--hp", "epochs=3", "--hp", "batch_size=16", "--hp", "learning_rate=0.003", "--seed", "5", "--follow", "--json");
        Assert.True(trained.ExitCode == 0, trained.ToString());

        // The dataset and epochs from flags, the learning rate from an options file, the batch size from a dotted -o.
        var file = Path.Combine(_files.Path, "options.json");
        await File.WriteAllTextAsync(file, """{"ratio": 0.5, "samples": 4, "fine_tune": {"hyperparameters": {"learning_rate": 0.01, "batch_size": 64}}}""");
        var run = await fixture.RunAsync("optimize", model, "1", "--method", "prune-structured", "--options-file", file,
            "-o", "fine_tune.hyperparameters.batch_size=16", "--fine-tune", $"{dataset}:1", "--fine-tune-epochs", "3", "--gate", "max_accuracy_drop=1", "--json");
        Assert.True(run.ExitCode == 0, run.ToString());
        var id = (string)run.Json()["id"]!;

        // Read back from the server: the job's report says what the fine-tune was given and that it trained.
        var job = (await fixture.RunAsync("jobs", "show", id, "--json")).Json();
        Assert.Equal("succeeded", (string?)job["status"]);
        Assert.Equal("ready", (string?)job["result"]!["status"]);
        var report = job["result"]!["report"]!;
        var fineTune = report["fine_tune"]!;
        Assert.Equal(dataset, (string?)fineTune["dataset"]);
        Assert.Equal(1, (int?)fineTune["version"]);
        Assert.Equal(3.0, (double?)fineTune["hyperparameters"]!["epochs"]);
        Assert.Equal(0.01, (double?)fineTune["hyperparameters"]!["learning_rate"]);
        Assert.Equal(16.0, (double?)fineTune["hyperparameters"]!["batch_size"]);
        Assert.Equal(3, fineTune["epochs"]!.AsArray().Count);
        Assert.All(fineTune["epochs"]!.AsArray(), e => Assert.Equal("fine_tune", (string?)e!["phase"]));
        Assert.Equal(12, (int)report["rewrite"]!["units_removed"]!); // half of the 24 hidden units
        Assert.Equal(12, (int)fineTune["network"]!.AsArray().First(l => (string?)l!["type"] == "dense")!["units"]!);
        Assert.Equal("fine-tune test rows", (string?)report["compared_on"]);
        Assert.InRange((double)report["accuracy"]!, 0, 1);
        var version = await fixture.Client.GetVersionAsync(model, (int)job["result"]!["version"]!);
        Assert.Equal("pruned", version.DerivedFrom?.GetProperty("relation").GetString());
        var logs = await fixture.RunAsync("jobs", "logs", id);
        Assert.True(logs.ExitCode == 0, logs.ToString());
        Assert.Contains(" epoch 3: ", logs.Stdout);
        Assert.Contains("phase fine_tune", logs.Stdout);

        // The mistakes the CLI can see are usage errors (exit 2) naming the flag; the server's are its own codes.
        async Task<string> Usage(params string[] args)
        {
            var refused = await fixture.RunAsync(["optimize", model, "1", .. args]);
            return refused.AssertFailure(ExitCodes.Usage, "usage");
        }

        Assert.Contains("--fine-tune DATASET", await Usage("--method", "prune-structured", "-o", "ratio=0.5", "--fine-tune-epochs", "3"));
        Assert.Contains("--fine-tune-epochs must be 1 or more, not 0",
            await Usage("--method", "prune-structured", "-o", "ratio=0.5", "--fine-tune", dataset, "--fine-tune-epochs", "0"));
        Assert.Contains("prune-magnitude and prune-structured", await Usage("--method", "onnx-fp16", "--fine-tune", dataset));
        Assert.Contains("name or name:version", await Usage("--method", "prune-structured", "-o", "ratio=0.5", "--fine-tune", $"{dataset}:latest"));
        Assert.Contains("must be a JSON object such as", await Usage("--method", "prune-structured", "--options", "[0.5]"));
        Assert.Contains("options.ratio is already 0.5", await Usage("--method", "prune-structured", "--options", """{"ratio": 0.5}""", "-o", "ratio.x=1"));
        Assert.Contains("is not name=value", await Usage("--method", "prune-structured", "-o", "fine_tune..epochs=1"));
        (await fixture.RunAsync("optimize", model, "1", "--method", "prune-structured", "--options", "{\"ratio\": 0.5,")).AssertFailure(ExitCodes.Usage, "invalid_json");
        (await fixture.RunAsync("optimize", model, "1", "--method", "prune-structured", "--options-file",
            Path.Combine(_files.Path, "missing.json"))).AssertFailure(ExitCodes.Failure, "file_not_found");
        Assert.Contains("not both", await Usage("--method", "prune-structured", "--options", "{}", "--options-file", file));
        var server = await fixture.RunAsync("optimize", model, "1", "--method", "prune-structured", "-o", "ratio=0.5", "--fine-tune", dataset, "-o", "fine_tune.optimizer=sgd");
        Assert.Contains("not 'optimizer'", server.AssertFailure(ExitCodes.Failure, "invalid_fine_tune"));
    }

    [Fact]
    public async Task Fine_tune_uploads_the_chats_follows_the_job_and_names_the_model_to_chat_with()
    {
        var name = Names.Unique("ftbase");
        var gguf = Path.Combine(_files.Path, "base.gguf");
        GgufLlamaModelFactory.Write(gguf, new GgufLlamaModelOptions
        {
            Name = "maas-cli-ft-base",
            EmbeddingLength = 64,
            BlockCount = 2,
            HeadCount = 4,
            KeyValueHeadCount = 2,
            FeedForwardLength = 128,
            ContextLength = 1024,
            VocabularySize = 1000,
        });
        (await fixture.RunAsync("models", "push", name, gguf, "--task", "text-generation", "--json")).Json();
        var chats = Path.Combine(_files.Path, "chats.jsonl");
        await File.WriteAllLinesAsync(chats,
            Enumerable.Range(0, 8).Select(i => $$"""{"messages": [{"role": "user", "content": "question {{i}}"}, {"role": "assistant", "content": "ok ok ok"}]}"""));

        var run = await fixture.RunAsync("fine-tune", name, chats, "--epochs", "2", "--suffix", "cli");
        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Matches("uploaded chats.jsonl as file-", run.Stdout);
        Assert.Matches(@"epoch 2: .*train_loss", run.Stdout);
        // Each epoch's losses once: its checkpoint event repeats the metrics event's numbers and is not another line.
        Assert.Single(System.Text.RegularExpressions.Regex.Matches(run.Stdout, @"epoch 2\b.*train_loss"));
        Assert.DoesNotContain("fine_tuning.checkpoint", run.Stdout, StringComparison.Ordinal);
        // Nor is OpenAI's message of the same epoch ("Epoch 2/2: training loss ...").
        Assert.DoesNotContain("Epoch 2/2", run.Stdout, StringComparison.Ordinal);
        Assert.Matches($"succeeded: chat with {name}-ft-cli:ftjob-", run.Stdout);

        var jobs = (await fixture.RunAsync("jobs", "list", "--kind", "fine-tune", "--json")).Json().AsArray();
        Assert.Contains(jobs, j => (string?)j!["model"] == name && (string?)j["status"] == "succeeded");

        // The table's RESULT names the fine-tuned model, not a bare "v2" next to the base's name.
        var table = (await fixture.RunAsync("jobs", "list", "--kind", "fine-tune")).Stdout;
        Assert.True(System.Text.RegularExpressions.Regex.IsMatch(table, $@"│\s*fine-tune\s*│\s*succeeded\s*│\s*{name}\s*│[^│\n]*│\s*{name}-ft-cli v\d+\s*│"), table);

        // A file that is not chats is refused at upload, in one line with OpenAI's code.
        var bad = Path.Combine(_files.Path, "bad.jsonl");
        await File.WriteAllTextAsync(bad, "{\"messages\": 3}\n");
        (await fixture.RunAsync("fine-tune", name, bad)).AssertFailure(ExitCodes.Failure, "invalid_file_format");
    }
}
