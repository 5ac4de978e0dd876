using System.Net;
using System.Net.Sockets;
using System.Text;
using Maas.Cli.Commands;
using Maas.Cli.Hosting;
using Maas.Cli.Tests.Support;
using Maas.Client;
using Maas.Client.Registry;
using Maas.Core.Formats.Onnx;
using Maas.Server.Tests.Support;
using Maas.Testing;

namespace Maas.Cli.Tests;

/// <summary>
/// What a person sees when something goes wrong: a mistyped command line, a file that is missing or no model, a
/// server that answers something else than a MaaS server would, a run that measured nothing, Ctrl+C during a follow.
/// One line, a documented exit code, and nothing left behind on the server by a command that failed.
/// </summary>
[Collection(CliServerCollection.Name)]
public sealed class FailureReportingTests(CliServerFixture fixture) : IDisposable
{
    private readonly TempDirectory _files = new("maas-cli-failures");

    public void Dispose() => _files.Dispose();

    [Fact]
    public async Task A_command_group_without_a_subcommand_lists_them_and_a_value_outside_a_choice_names_the_option_and_the_choices()
    {
        // Each used to print "Required command was not provided. (see maas --help)".
        var models = (await fixture.RunAsync("models")).AssertFailure(ExitCodes.Usage, "usage");
        Assert.Equal("error: usage: maas models needs a subcommand: list, show, push, pull, import, rm, alias (see maas models --help)", models);
        var jobs = (await fixture.RunAsync("jobs")).AssertFailure(ExitCodes.Usage, "usage");
        Assert.Contains("maas jobs needs a subcommand: list, show, cancel, logs (see maas jobs --help)", jobs, StringComparison.Ordinal);

        // Used to be "Argument 'week' not recognized. Must be one of: \t'hour' \t'day' \t'none'", with tabs and no option.
        var groupBy = (await fixture.RunAsync("usage", "--group-by", "week")).AssertFailure(ExitCodes.Usage, "usage");
        Assert.Equal("error: usage: --group-by: 'week' is not one of hour, day, none (see maas usage --help)", groupBy);
        var kind = (await fixture.RunAsync("jobs", "list", "--kind", "trainig")).AssertFailure(ExitCodes.Usage, "usage");
        Assert.Equal("error: usage: --kind: 'trainig' is not one of import, training, optimization, fine-tune, evaluation (see maas jobs list --help)", kind);
        var preset = (await fixture.RunAsync("infer", "demo-classifier", "--preset", "bright")).AssertFailure(ExitCodes.Usage, "usage");
        Assert.Contains("--preset: 'bright' is not one of unit, imagenet, symmetric, raw (see maas infer --help)", preset, StringComparison.Ordinal);

        // The help named is the command's own.
        var missing = (await fixture.RunAsync("models", "push", "only-a-name")).AssertFailure(ExitCodes.Usage, "usage");
        Assert.EndsWith("(see maas models push --help)", missing, StringComparison.Ordinal);

        // So do the usage errors a command finds once parsed: they ended at the message.
        var limit = (await fixture.RunAsync("evaluate", "m", "--version", "1", "--dataset", "d", "--limit", "0")).AssertFailure(ExitCodes.Usage, "usage");
        Assert.Equal("error: usage: --limit must be at least 1, not 0 (see maas evaluate --help)", limit);
        var epochs = (await fixture.RunAsync("optimize", "m", "1", "--method", "prune-structured", "--fine-tune", "d", "--fine-tune-epochs", "0")).AssertFailure(ExitCodes.Usage,
            "usage");
        Assert.EndsWith("--fine-tune-epochs must be 1 or more, not 0 (see maas optimize --help)", epochs, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_push_or_import_the_server_refuses_leaves_no_empty_model_or_dataset_behind()
    {
        var notAModel = Path.Combine(_files.Path, "notes.onnx");
        await File.WriteAllTextAsync(notAModel, "these are notes, not a model");

        var model = Names.Unique("refused-push");
        (await fixture.RunAsync("models", "push", model, notAModel)).AssertFailure(ExitCodes.Failure, "unknown_format");
        Assert.Equal("model_not_found", (await Assert.ThrowsAsync<MaasApiException>(() => fixture.Client.GetModelAsync(model))).Code);

        var imported = Names.Unique("refused-import");
        (await fixture.RunAsync("models", "import", imported, "not-a-url")).AssertFailure(ExitCodes.Failure, "invalid_url");
        Assert.Equal("model_not_found", (await Assert.ThrowsAsync<MaasApiException>(() => fixture.Client.GetModelAsync(imported))).Code);

        // A table whose third line has a field too many: the server refuses the file after the dataset was created.
        var badTable = Path.Combine(_files.Path, "bad.csv");
        await File.WriteAllTextAsync(badTable, "a,b\n1,2\n3,4,5\n");
        var dataset = Names.Unique("refused-dataset");
        (await fixture.RunAsync("datasets", "push", dataset, badTable)).AssertFailure(ExitCodes.Failure, "invalid_dataset");
        Assert.Equal("dataset_not_found", (await Assert.ThrowsAsync<MaasApiException>(() => fixture.Client.GetDatasetAsync(dataset))).Code);

        // A model that was there before keeps its versions: only what the command made is taken back.
        var existing = Names.Unique("kept");
        await fixture.Client.CreateModelAsync(new NewModel(existing));
        (await fixture.RunAsync("models", "push", existing, notAModel)).AssertFailure(ExitCodes.Failure, "unknown_format");
        Assert.Equal(existing, (await fixture.Client.GetModelAsync(existing)).Name);
    }

    [Fact]
    public async Task Alias_delete_without_an_alias_is_a_usage_error_not_a_listing()
    {
        var name = Names.Unique("alias-delete");
        await fixture.Client.CreateModelAsync(new NewModel(name));
        await using (var onnx = new MemoryStream(TestArtifacts.Onnx(seed: 2)))
        {
            await fixture.Client.UploadVersionAsync(name, onnx, "mlp.onnx");
        }

        await fixture.Client.SetAliasAsync(name, "production", 1);

        // It used to list the aliases and exit 0, which read as if the deletion had been done.
        var line = (await fixture.RunAsync("models", "alias", name, "--delete")).AssertFailure(ExitCodes.Usage, "usage");
        Assert.Contains("say which alias to delete", line, StringComparison.Ordinal);
        Assert.Equal(["production"], (await fixture.Client.ListAliasesAsync(name)).Aliases.Select(a => a.Name));
    }

    [Fact]
    public async Task A_chat_stream_that_ends_before_done_fails_with_exit_7_after_the_text_it_got()
    {
        // A server that answers one event of text and closes: a stream cut short (a crash, a proxy's timeout).
        await using var cut = await OneAnswerServer.StartAsync(
            "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n"
            + "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"The answer is\"}}]}\n\n");
        var run = await CliRunner.RunAsync(["chat", "demo-llm", "What is it?"], Environment(cut.Address));
        var line = run.AssertFailure(ExitCodes.Server, "stream_incomplete");
        Assert.Contains("[DONE]", line, StringComparison.Ordinal);
        Assert.Equal("The answer is\n", run.Stdout);

        // A web page where the server should be (a wrong --url): it used to print nothing and exit 0.
        await using var page = await OneAnswerServer.StartAsync("HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nConnection: close\r\n\r\n<html><body>Welcome</body></html>");
        var json = await CliRunner.RunAsync(["chat", "demo-llm", "hi", "--json"], Environment(page.Address));
        json.AssertFailure(ExitCodes.Server, "stream_incomplete");
        Assert.Empty(json.Stdout);
    }

    [Fact]
    public async Task Files_named_by_a_flag_that_are_not_json_or_missing_are_named_in_the_line()
    {
        var notJson = Path.Combine(_files.Path, "plan.json");
        await File.WriteAllTextAsync(notJson, "steps: 10, 50, 100");

        var plan = (await fixture.RunAsync("deployments", "create", "demo-classifier", "--split", "1=100", "--plan", notJson)).AssertFailure(ExitCodes.Usage, "invalid_json");
        Assert.Contains($"--plan: {notJson} is not valid JSON", plan, StringComparison.Ordinal);
        var job = (await fixture.RunAsync("train", "-f", notJson)).AssertFailure(ExitCodes.Usage, "invalid_json");
        Assert.Contains($"--file: {notJson} is not a training job as JSON", job, StringComparison.Ordinal);
        var input = (await fixture.RunAsync("bench", "demo-classifier", "-n", "1", "--input", "{inputs: []}")).AssertFailure(ExitCodes.Usage, "invalid_json");
        Assert.Contains("--input is not a v2 request as JSON", input, StringComparison.Ordinal);

        // A missing picture is file_not_found like every other missing file (it was io_error with .NET's message).
        var picture = Path.Combine(_files.Path, "missing.png");
        Assert.Contains(picture, (await fixture.RunAsync("infer", "demo-classifier", "--image", picture)).AssertFailure(ExitCodes.Failure, "file_not_found"),
            StringComparison.Ordinal);

        // A missing validation file is found before the training file is sent (which used to be uploaded for nothing).
        var chats = Path.Combine(_files.Path, "chats.jsonl");
        await File.WriteAllTextAsync(chats, """{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}""" + "\n");
        var validation = Path.Combine(_files.Path, "missing.jsonl");
        var fineTune = await fixture.RunAsync("fine-tune", "demo-llm", chats, "--validation-file", validation);
        Assert.Contains(validation, fineTune.AssertFailure(ExitCodes.Failure, "file_not_found"), StringComparison.Ordinal);
        Assert.DoesNotContain("uploading", fineTune.Stdout, StringComparison.Ordinal);

        // A validation file or a job the server refuses: the files the command sent are deleted again (they stayed).
        var named = Path.Combine(_files.Path, $"cleanup-{Guid.NewGuid():N}.jsonl");
        File.Copy(chats, named);
        var noAssistant = Path.Combine(_files.Path, $"cleanup-{Guid.NewGuid():N}.jsonl");
        await File.WriteAllTextAsync(noAssistant, """{"messages": [{"role": "user", "content": "hi"}]}""" + "\n");
        (await fixture.RunAsync("fine-tune", "demo-llm", named, "--validation-file", noAssistant)).AssertFailure(ExitCodes.Failure, "invalid_file_format");
        (await fixture.RunAsync("fine-tune", "demo-classifier", named, "--validation-file", named)).AssertFailure(ExitCodes.Failure, "model_not_fine_tunable");
        var files = await (await fixture.Server.Client.GetAsync("v1/files")).Content.ReadAsStringAsync();
        Assert.DoesNotContain("cleanup-", files, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_bench_in_which_every_request_failed_exits_with_their_error_and_still_prints_the_figures()
    {
        var wrongShape = """{"inputs": [{"name": "input", "shape": [1, 2], "datatype": "FP32", "data": [1, 2]}]}""";
        var run = await fixture.RunAsync("bench", "demo-classifier", "-n", "6", "-c", "2", "--input", wrongShape, "--json");

        // It used to exit 0, so a script took the run's figures (all zeros) for a measurement.
        var line = run.AssertFailure(ExitCodes.Failure, "http_400");
        Assert.Contains("every request failed (6 of 6)", line, StringComparison.Ordinal);
        var figures = System.Text.Json.Nodes.JsonNode.Parse(run.Stdout)!;
        Assert.Equal(6, (int?)figures["failed"]);
        Assert.Equal(6, (int?)figures["errors"]!["http_400"]);

        // Some successes are a measurement: exit 0.
        var good = await fixture.RunAsync("bench", "demo-classifier", "-n", "4", "-c", "2", "--json");
        Assert.Equal(4, (int?)good.Json()["succeeded"]);
    }

    [Fact]
    public async Task Interrupting_a_followed_import_says_it_goes_on_and_how_to_follow_or_cancel_it()
    {
        var name = Names.Unique("import-interrupted");
        var onnx = OnnxModelWriter.Mlp(64, [512, 512], 10, seed: 8).ToBytes();
        // The host sends the first 64 KiB and holds the rest: the import runs while the CLI follows it.
        var held = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var url = fixture.Files.Add("/files/interrupted.onnx", new ServedFile(onnx) { BeforeChunk = sent => sent == 0 ? Task.CompletedTask : held.Task });
        await fixture.Client.CreateModelAsync(new NewModel(name));
        var job = await fixture.Client.ImportVersionAsync(name, new ImportRequest(url.ToString()));
        try
        {
            await Conditions.ReadUntilAsync(() => fixture.Client.GetJobAsync(job.Id), j => j is { Status: "running", BytesDone: > 0 },
                "the import to be running with its first bytes in");
            var parse = new System.CommandLine.RootCommand { CliHost.Json }.Parse(["--json"]);
            using var interrupt = new CancellationTokenSource();
            var following = JobsCommands.FollowAsync(parse, fixture.Client, job, interrupt.Token);
            interrupt.Cancel(); // Ctrl+C while the import downloads

            // It used to end with "interrupted: interrupted", which does not say the import goes on.
            var e = await Assert.ThrowsAsync<CliException>(() => following);
            Assert.Equal(ExitCodes.Interrupted, e.ExitCode);
            Assert.Equal($"stopped following job {job.Id}, which goes on on the server: 'maas jobs logs {job.Id}' follows it again, 'maas jobs cancel {job.Id}' stops it",
                e.Message);
            Assert.Equal("running", (await fixture.Client.GetJobAsync(job.Id)).Status);
        }
        finally
        {
            await fixture.Client.CancelJobAsync(job.Id);
            held.TrySetResult();
        }
    }

    private static Dictionary<string, string?> Environment(Uri server) => new()
    {
        ["MAAS_URL"] = server.ToString(),
        ["MAAS_API_KEY"] = "maas-unused",
        ["MAAS_CONFIG"] = Path.Combine(Path.GetTempPath(), "maas-cli-tests-no-config", "config.json"),
    };

    /// <summary>An HTTP server on 127.0.0.1 that reads each request and answers it with the same bytes, then closes the connection.</summary>
    private sealed class OneAnswerServer : IAsyncDisposable
    {
        private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
        private readonly CancellationTokenSource _stop = new();
        private readonly byte[] _answer;
        private Task _serving = Task.CompletedTask;

        private OneAnswerServer(string answer) => _answer = Encoding.UTF8.GetBytes(answer);

        public Uri Address => new($"http://127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}/");

        public static Task<OneAnswerServer> StartAsync(string answer)
        {
            var server = new OneAnswerServer(answer);
            server._listener.Start();
            server._serving = server.ServeAsync();
            return Task.FromResult(server);
        }

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            _listener.Stop();
            try
            {
                await _serving;
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                // Stopped while waiting for a caller.
            }

            _stop.Dispose();
        }

        private async Task ServeAsync()
        {
            while (!_stop.IsCancellationRequested)
            {
                using var caller = await _listener.AcceptTcpClientAsync(_stop.Token);
                var stream = caller.GetStream();
                await ReadRequestAsync(stream, _stop.Token);
                await stream.WriteAsync(_answer, _stop.Token);
                caller.Client.Shutdown(SocketShutdown.Send);
            }
        }

        // The headers, then the body (Content-Length bytes, or chunks up to the last one), so the request is read whole.
        private static async Task ReadRequestAsync(NetworkStream stream, CancellationToken ct)
        {
            var received = new List<byte>();
            var buffer = new byte[4096];
            bool Complete()
            {
                var headerEnd = IndexOf(received, "\r\n\r\n"u8.ToArray(), 0);
                if (headerEnd < 0)
                {
                    return false;
                }

                var headers = Encoding.ASCII.GetString([.. received.Take(headerEnd)]).Split("\r\n").Select(h => h.Split(':', 2)).Where(h => h.Length == 2)
                    .ToDictionary(h => h[0].Trim(), h => h[1].Trim(), StringComparer.OrdinalIgnoreCase);
                if (headers.TryGetValue("Transfer-Encoding", out var encoding) && encoding.Contains("chunked", StringComparison.OrdinalIgnoreCase))
                {
                    return IndexOf(received, "\r\n0\r\n\r\n"u8.ToArray(), headerEnd) >= 0;
                }

                var length = headers.TryGetValue("Content-Length", out var text) ? int.Parse(text, System.Globalization.CultureInfo.InvariantCulture) : 0;
                return received.Count - (headerEnd + 4) >= length;
            }

            while (!Complete())
            {
                var read = await stream.ReadAsync(buffer, ct);
                if (read == 0)
                {
                    return;
                }

                received.AddRange(buffer.AsSpan(0, read).ToArray());
            }
        }

        private static int IndexOf(List<byte> data, byte[] pattern, int from)
        {
            for (var i = from; i + pattern.Length <= data.Count; i++)
            {
                if (pattern.Select((b, k) => data[i + k] == b).All(x => x))
                {
                    return i;
                }
            }

            return -1;
        }
    }
}
