using System.Text.Json.Nodes;
using Maas.Cli.Hosting;
using Maas.Cli.Tests.Support;
using Maas.Core.Formats.Onnx;
using Maas.Server.Tests.Support;
using Maas.Testing;

namespace Maas.Cli.Tests;

/// <summary><c>maas models ...</c> and <c>maas jobs ...</c> run as a process against a real server.</summary>
[Collection(CliServerCollection.Name)]
public sealed class ModelCommandTests(CliServerFixture fixture) : IDisposable
{
    private readonly TempDirectory _files = new("maas-cli-models");

    public void Dispose() => _files.Dispose();

    [Fact]
    public async Task Models_list_json_is_an_array_with_each_models_name_and_the_table_lists_them_too()
    {
        var name = Names.Unique("list");
        await fixture.Client.CreateModelAsync(new Maas.Client.Registry.NewModel(name) { Task = "classification" });

        var json = (await fixture.RunAsync("models", "list", "--json")).Json().AsArray();
        var names = json.Select(m => (string?)m!["name"]).ToList();
        Assert.Contains(name, names);
        Assert.Contains("demo-classifier", names);
        Assert.Equal("classification", (string?)json.Single(m => (string?)m!["name"] == name)!["task"]);

        var table = await fixture.RunAsync("models", "list", "--search", name);
        Assert.Equal(ExitCodes.Ok, table.ExitCode);
        Assert.Contains(name, table.Stdout);
        Assert.DoesNotContain("demo-classifier", table.Stdout);
    }

    [Fact]
    public async Task Push_shows_progress_then_show_alias_pull_and_rm_work_on_the_version()
    {
        var name = Names.Unique("push");
        var onnx = TestArtifacts.Onnx(seed: 3);
        var file = Path.Combine(_files.Path, "mlp.onnx");
        await File.WriteAllBytesAsync(file, onnx);

        // Without --json (and not at a terminal): progress lines up to 100%, then one summary line.
        var pushed = await fixture.RunAsync("models", "push", name, file, "--task", "classification");
        Assert.True(pushed.ExitCode == 0, pushed.ToString());
        Assert.Contains("uploading mlp.onnx: 100%", pushed.Stdout);
        Assert.Contains($"pushed {name} version 1", pushed.Stdout);
        Assert.Empty(pushed.Stderr);

        // With --json: only the version, as JSON; --alias points an alias at it.
        var second = (await fixture.RunAsync("models", "push", name, file, "--alias", "production", "--metadata", "source=cli", "--json")).Json();
        Assert.Equal(2, (int?)second["version"]);
        Assert.Equal("ready", (string?)second["status"]);
        Assert.Equal(TestArtifacts.Sha256(onnx), (string?)second["sha256"]);
        Assert.Equal(["production"], second["aliases"]!.AsArray().Select(a => (string?)a));
        Assert.Equal("cli", (string?)second["metadata"]!["source"]);

        var shown = (await fixture.RunAsync("models", "show", name, "--json")).Json();
        Assert.Equal(name, (string?)shown["name"]);
        Assert.Equal([1, 2], shown["versions"]!.AsArray().Select(v => (int)v!["version"]!));

        var alias = (await fixture.RunAsync("models", "alias", name, "staging", "1", "--json")).Json();
        Assert.Equal(1, (int?)alias["version"]);
        var aliases = (await fixture.RunAsync("models", "alias", name, "--json")).Json().AsArray();
        Assert.Equal(["production", "staging"], aliases.Select(a => (string?)a!["name"]).Order());

        var pulled = (await fixture.RunAsync("models", "pull", $"{name}:staging", "-o", Path.Combine(_files.Path, "pulled"), "--json")).Json();
        Assert.Equal(1, (int?)pulled["version"]);
        var path = (string)pulled["files"]![0]!;
        Assert.Equal(onnx, await File.ReadAllBytesAsync(path));

        // An alias moves only from the version it is expected at; it can be deleted.
        (await fixture.RunAsync("models", "alias", name, "staging", "2", "--expected-version", "2")).AssertFailure(ExitCodes.Conflict, "alias_conflict");
        var moved = await fixture.RunAsync("models", "alias", name, "staging", "2", "--expected-version", "1");
        Assert.True(moved.ExitCode == 0, moved.ToString());
        Assert.Contains($"{name}:staging -> version 2", moved.Stdout);
        Assert.Equal("staging", (string?)(await fixture.RunAsync("models", "alias", name, "staging", "--delete", "--json")).Json()["deleted"]);
        Assert.Equal(["production"], (await fixture.RunAsync("models", "alias", name, "--json")).Json().AsArray().Select(a => (string?)a!["name"]));

        // One version goes with --version; the other stays.
        Assert.Equal(1, (int?)(await fixture.RunAsync("models", "rm", name, "--version", "1", "--json")).Json()["version"]);
        Assert.Equal([2], (await fixture.RunAsync("models", "show", name, "--json")).Json()["versions"]!.AsArray().Select(v => (int)v!["version"]!));
        (await fixture.RunAsync("models", "rm", name, "--version", "1")).AssertFailure(ExitCodes.NotFound, "version_not_found");

        // A model with aliases is not deleted without --force: 409, one line, the server's code.
        (await fixture.RunAsync("models", "rm", name)).AssertFailure(ExitCodes.Conflict, "model_in_use");
        var removed = (await fixture.RunAsync("models", "rm", name, "--force", "--json")).Json();
        Assert.Equal(name, (string?)removed["deleted"]);
        var gone = (await fixture.RunAsync("models", "show", name)).AssertFailure(ExitCodes.NotFound, "model_not_found");
        Assert.Contains(name, gone);
    }

    [Fact]
    public async Task Push_with_a_version_that_is_not_a_version_number_is_refused_before_anything_is_sent()
    {
        var existing = Names.Unique("badver");
        await fixture.Client.CreateModelAsync(new Maas.Client.Registry.NewModel(existing));
        var missing = Names.Unique("badver-new");
        var file = Path.Combine(_files.Path, "mlp.onnx");
        await File.WriteAllBytesAsync(file, TestArtifacts.Onnx(seed: 6));

        foreach (var (model, version) in new[] { (existing, "0"), (existing, "-1"), (missing, "0") })
        {
            var line = (await fixture.RunAsync("models", "push", model, file, "--version", version)).AssertFailure(ExitCodes.Usage, "usage");
            Assert.Contains($"--version: '{version}' is not a version number (1, 2, ...)", line);
        }

        // Nothing reached the server: no version uploaded, no model created on the way.
        Assert.Empty((await fixture.Client.GetModelAsync(existing)).Versions ?? []);
        var notCreated = await Assert.ThrowsAsync<Maas.Client.MaasApiException>(() => fixture.Client.GetModelAsync(missing));
        Assert.Equal(System.Net.HttpStatusCode.NotFound, notCreated.Status);

        // A bad --metadata is refused before the model is created too, naming the option.
        var metadata = (await fixture.RunAsync("models", "push", missing, file, "--metadata", "source")).AssertFailure(ExitCodes.Usage, "usage");
        Assert.Contains("--metadata: 'source' is not key=value", metadata);
        await Assert.ThrowsAsync<Maas.Client.MaasApiException>(() => fixture.Client.GetModelAsync(missing));
    }

    // Each used to reach the server (the model, dataset or deployment here does not exist, so a request would exit 4
    // not found, or 1 for the server's 400), or to send a fine-tune's file first: a usage error, naming the flag.
    [Theory]
    [InlineData("<version>: '0' is not a version number (1, 2, ...)", "models", "alias", "no-such-model", "prod", "0")]
    [InlineData("--expected-version: '0' is not a version number (1, 2, ...)", "models", "alias", "no-such-model", "prod", "2", "--expected-version", "0")]
    [InlineData("--expected-version: '-3' is not a version number (1, 2, ...)", "models", "alias", "no-such-model", "prod", "2", "--expected-version", "-3")]
    [InlineData("<version>: '0' is not a version number (1, 2, ...)", "optimize", "no-such-model", "0", "--method", "onnx-fp16")]
    [InlineData("--limit: '0' is out of range (1 to 1000)", "models", "list", "--limit", "0")]
    [InlineData("--limit: '0' is out of range (1 to 2147483647)", "jobs", "list", "--limit", "0")]
    [InlineData("--limit: '0' is out of range (1 to 1000)", "deployments", "history", "no-such-deployment", "--limit", "0")]
    [InlineData("--if-revision: '0' is out of range (1 to 9223372036854775807)", "deployments", "update", "no-such-deployment", "--split", "1=100", "--if-revision", "0")]
    [InlineData("--limit: '-1' is out of range (1 to 2147483647)", "datasets", "preview", "no-such-dataset", "--limit", "-1")]
    [InlineData("--max-tokens: '0' is out of range (1 to 2147483647)", "chat", "no-such-model", "hello", "--max-tokens", "0")]
    [InlineData("--max-tokens: '0' is out of range (1 to 2147483647)", "bench", "no-such-model", "--max-tokens", "0")]
    [InlineData("--epochs: '0' is out of range (1 to 2147483647)", "fine-tune", "no-such-model", "no-such-chats.jsonl", "--epochs", "0")]
    [InlineData("--batch-size: '257' is out of range (1 to 256)", "fine-tune", "no-such-model", "no-such-chats.jsonl", "--batch-size", "257")]
    [InlineData("--seed: '-1' is out of range (0 to 2147483647)", "fine-tune", "no-such-model", "no-such-chats.jsonl", "--seed", "-1")]
    [InlineData("--temperature: '2.5' is out of range (0 to 2)", "chat", "no-such-model", "hello", "--temperature", "2.5")]
    [InlineData("--temperature: 'NaN' is out of range (0 to 2)", "chat", "no-such-model", "hello", "--temperature", "NaN")]
    [InlineData("--lr-multiplier: '0' is out of range (above 0 up to 1000)", "fine-tune", "no-such-model", "no-such-chats.jsonl", "--lr-multiplier", "0")]
    [InlineData("--validation: '0.6' is out of range (0 to 0.5)", "train", "--model", "no-such-model", "--dataset", "no-such-dataset", "--validation", "0.6")]
    [InlineData("--test: '0.01' is out of range (0.05 to 0.5)", "train", "--model", "no-such-model", "--dataset", "no-such-dataset", "--test", "0.01")]
    [InlineData("--seed: '-1' is out of range (0 to 2147483647)", "train", "--model", "no-such-model", "--dataset", "no-such-dataset", "--seed", "-1")]
    [InlineData("--hp epochs=Infinity: the value is not a number", "train", "--model", "no-such-model", "--dataset", "no-such-dataset", "--hp", "epochs=Infinity")]
    [InlineData("--gate max_abs_error=NaN: the value is not a number", "optimize", "no-such-model", "1", "--method", "onnx-fp16", "--gate", "max_abs_error=NaN")]
    [InlineData("--version: '0' is not a version number (1, 2, ...)", "optimize", "no-such-model", "--version", "0", "--method", "onnx-fp16")]
    [InlineData("the source version is required", "optimize", "no-such-model", "--method", "onnx-fp16")]
    [InlineData("two source versions: 1 and --version 2; give one", "optimize", "no-such-model", "1", "--version", "2", "--method", "onnx-fp16")]
    public async Task Numbers_the_server_always_refuses_are_usage_errors_before_anything_is_sent(string message, params string[] args)
    {
        var line = (await fixture.RunAsync(args)).AssertFailure(ExitCodes.Usage, "usage");
        Assert.Contains(message, line);
    }

    [Fact]
    public async Task A_push_whose_alias_or_chunk_size_cannot_be_taken_exits_2_before_anything_is_sent()
    {
        var name = Names.Unique("refused");
        var file = Path.Combine(_files.Path, "mlp.onnx");
        await File.WriteAllBytesAsync(file, TestArtifacts.Onnx(seed: 3));

        // The alias was set only after the whole file was uploaded: a name the registry refuses left a new version
        // without it (exit 1), and running the command again made another. A chunk size out of range was clamped.
        string[][] refused = [["--alias", "Bad Alias"], ["--alias", "a..b"], ["--resumable", "--chunk-mib", "0"], ["--resumable", "--chunk-mib", "2048"]];
        foreach (var extra in refused)
        {
            var run = await fixture.RunAsync(["models", "push", name, file, .. extra]);
            Assert.True(run.ExitCode == ExitCodes.Usage, run.ToString());
            Assert.StartsWith($"error: usage: {extra[^2]}: '{extra[^1]}'", run.Stderr, StringComparison.Ordinal);
            Assert.DoesNotContain("uploading", run.Stdout, StringComparison.Ordinal);
        }

        var missing = await Assert.ThrowsAsync<Maas.Client.MaasApiException>(() => fixture.Client.GetModelAsync(name));
        Assert.Equal("model_not_found", missing.Code);
    }

    [Fact]
    public async Task A_resumable_push_sends_chunks_and_ends_with_the_same_bytes()
    {
        var name = Names.Unique("chunks");
        var file = Path.Combine(_files.Path, "big.gguf");
        await using (var output = File.Create(file))
        {
            await new GeneratedGgufStream(3L << 20).CopyToAsync(output);
        }

        var run = await fixture.RunAsync("models", "push", name, file, "--resumable", "--chunk-mib", "1");
        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Contains("upload session ", run.Stdout);
        Assert.Contains("uploading big.gguf: 100%", run.Stdout);
        var version = await fixture.Client.GetVersionAsync(name, 1);
        Assert.Equal(TestArtifacts.Sha256(file), version.Sha256);
        Assert.Equal(new FileInfo(file).Length, version.SizeBytes);
    }

    [Fact]
    public async Task Import_follows_the_job_to_the_end_and_jobs_list_show_and_logs_report_it()
    {
        var name = Names.Unique("import");
        // About 1.2 MiB, sent 64 KiB at a time; at each quarter the host waits until the CLI has printed the
        // percentage it reached (its lines come every 10%; the download fills the job's percent up to 90), so the run
        // is paced by the CLI's own output.
        var onnx = OnnxModelWriter.Mlp(64, [512, 512], 10, seed: 4).ToBytes();
        var printed = new List<int>();
        var signal = new SemaphoreSlim(0);
        string? gateFailure = null;
        var quarters = new Queue<long>([onnx.Length / 4, onnx.Length / 2, 3L * onnx.Length / 4]);
        async Task Gate(long sent)
        {
            while (quarters.TryPeek(out var quarter) && sent >= quarter)
            {
                quarters.Dequeue();
                var expected = (int)(90 * sent / onnx.Length) / 10 * 10;
                using var ceiling = new CancellationTokenSource(TimeSpan.FromSeconds(60));
                while (Printed() < expected)
                {
                    if (!await signal.WaitAsync(TimeSpan.FromSeconds(1), CancellationToken.None) && ceiling.IsCancellationRequested)
                    {
                        gateFailure = $"the CLI printed {string.Join(", ", printed)} but never {expected}% in a minute";
                        return;
                    }
                }
            }
        }

        int Printed()
        {
            lock (printed)
            {
                return printed.Count == 0 ? -1 : printed.Max();
            }
        }

        var url = fixture.Files.Add("/files/model.onnx", new ServedFile(onnx) { BeforeChunk = Gate });
        var run = await fixture.RunWatchingAsync(
            line =>
            {
                if (System.Text.RegularExpressions.Regex.Match(line, @"\(import\): (\d+)%$") is { Success: true } m)
                {
                    lock (printed)
                    {
                        printed.Add(int.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture));
                    }

                    signal.Release();
                }
            },
            "models", "import", name, url.ToString(), "--sha256", TestArtifacts.Sha256(onnx));
        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Null(gateFailure);
        Assert.Contains("succeeded", run.Stdout);

        // What the CLI printed of its bar: rising percentages, at least one per quarter on the way, ending at 100%.
        Assert.Equal(printed.Order(), printed);
        Assert.True(printed.Count(p => p is > 0 and < 100) >= 3, $"printed {string.Join(", ", printed)}");
        Assert.Equal(100, printed[^1]);

        var jobs = (await fixture.RunAsync("jobs", "list", "--json")).Json().AsArray();
        var job = jobs.First(j => (string?)j!["model"] == name)!;
        Assert.Equal("succeeded", (string?)job["status"]);
        var id = (string)job["id"]!;

        var shown = (await fixture.RunAsync("jobs", "show", id, "--json")).Json();
        Assert.Equal(1, (int?)shown["result"]!["version"]);
        var logs = await fixture.RunAsync("jobs", "logs", id);
        Assert.Equal(ExitCodes.Ok, logs.ExitCode);
        Assert.Contains("succeeded", logs.Stdout);

        (await fixture.RunAsync("jobs", "cancel", id)).AssertFailure(ExitCodes.Conflict, "job_finished");
        (await fixture.RunAsync("jobs", "show", "job_does_not_exist")).AssertFailure(ExitCodes.NotFound, "job_not_found");
    }

    [Fact]
    public async Task Jobs_cancel_stops_a_running_import_and_logs_of_it_exit_with_the_job_failure_code()
    {
        var name = Names.Unique("cancel");
        var onnx = OnnxModelWriter.Mlp(64, [512, 512], 10, seed: 5).ToBytes();
        // The host sends the first 64 KiB and holds the rest until the test ends: the import runs until it is cancelled.
        var held = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var url = fixture.Files.Add("/files/held.onnx", new ServedFile(onnx) { BeforeChunk = sent => sent == 0 ? Task.CompletedTask : held.Task });
        try
        {
            var started = (await fixture.RunAsync("models", "import", name, url.ToString(), "--no-wait", "--json")).Json();
            var id = (string)started["id"]!;
            await Conditions.ReadUntilAsync(() => fixture.Client.GetJobAsync(id), j => j is { Status: "running", BytesDone: > 0 },
                "the import to be running with its first bytes in");
            var running = (await fixture.RunAsync("jobs", "list", "--kind", "import", "--json")).Json().AsArray().Single(j => (string?)j!["id"] == id)!;
            Assert.Equal("running", (string?)running["status"]);

            var cancelled = (await fixture.RunAsync("jobs", "cancel", id, "--json")).Json();
            Assert.Equal(id, (string?)cancelled["id"]);
            Assert.Equal("cancelled", (string?)cancelled["status"]);
            var human = await fixture.RunAsync("jobs", "show", id);
            Assert.True(human.ExitCode == 0, human.ToString());
            Assert.Matches(@"status\s+cancelled", human.Stdout);
            // Each line is as long as what it says: none padded to the widest value.
            Assert.All(human.Stdout.Split('\n'), l => Assert.Equal(l.TrimEnd('\r').TrimEnd(), l.TrimEnd('\r')));

            // A script following the job learns it did not succeed: exit 8 and one line naming it.
            var logs = await fixture.RunAsync("jobs", "logs", id);
            Assert.Contains(id, logs.AssertFailure(ExitCodes.JobFailed, "job_cancelled"));
            Assert.Contains("cancelled", logs.Stdout);
            (await fixture.RunAsync("jobs", "cancel", id)).AssertFailure(ExitCodes.Conflict, "job_finished");
            await Assert.ThrowsAsync<Maas.Client.MaasApiException>(() => fixture.Client.GetVersionAsync(name, 1));
        }
        finally
        {
            held.TrySetResult();
        }
    }

    [Fact]
    public async Task A_followed_import_whose_file_is_refused_ends_its_bar_where_the_job_stopped_not_at_100_percent()
    {
        var name = Names.Unique("refusedimport");
        var url = fixture.Files.Add($"/files/{Names.Unique("f")}/garbage.onnx", new ServedFile(new byte[256 * 1024]));
        var run = await fixture.RunAsync("models", "import", name, url.ToString());
        Assert.Equal(ExitCodes.JobFailed, run.ExitCode);
        Assert.StartsWith("error: unknown_format: ", Assert.Single(run.ErrorLines));

        // Every byte arrived, then the file was refused while it was being validated: the bar ends at the job's 90%;
        // it used to end at 100% before the error.
        var percents = System.Text.RegularExpressions.Regex.Matches(run.Stdout, @"\(import\): (\d+)%$", System.Text.RegularExpressions.RegexOptions.Multiline)
            .Select(m => int.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture)).ToArray();
        Assert.True(percents is [.., 90], run.ToString());
        Assert.DoesNotContain(100, percents);

        var job = (await fixture.RunAsync("jobs", "list", "--kind", "import", "--json")).Json().AsArray().First(j => (string?)j!["model"] == name)!;
        Assert.Equal(("failed", 90.0, "validating"), ((string?)job["status"], (double)job["progress"]!, (string?)job["stage"]));
        var logs = await fixture.RunAsync("jobs", "logs", (string)job["id"]!);
        Assert.Matches(@"failed\s+validating\s+256\.0 KiB of 256\.0 KiB \(90%\) unknown_format: ", logs.Stdout);
    }

    [Fact]
    public async Task A_failed_import_exits_with_the_job_failure_code_and_its_error_in_one_line()
    {
        var name = Names.Unique("badimport");
        var url = fixture.Files.Add("/files/garbage.onnx", new ServedFile("not a model at all"u8.ToArray()));
        var run = await fixture.RunAsync("models", "import", name, url.ToString(), "--json");
        var line = Assert.Single(run.ErrorLines);
        Assert.Equal(ExitCodes.JobFailed, run.ExitCode);
        Assert.Matches("^error: [a-z_]+: job .* failed: ", line);
        Assert.Equal("failed", (string?)JsonNode.Parse(run.Stdout)!["status"]);
    }
}
