using System.Text.Json.Nodes;
using Maas.Cli.Hosting;
using Maas.Cli.Tests.Support;
using Maas.Server.Tests.Support;
using Maas.Testing;

namespace Maas.Cli.Tests;

/// <summary><c>maas infer</c>, <c>chat</c>, <c>bench</c> and <c>ps</c> run as a process against real engines.</summary>
[Collection(CliServerCollection.Name)]
public sealed class InferenceCommandTests(CliServerFixture fixture)
{
    private const string DemoLlm = "demo-llm";

    [Fact]
    public async Task Infer_runs_a_generated_onnx_model_from_json_text_stdin_and_a_full_request()
    {
        var name = Names.Unique("infer");
        await fixture.Client.CreateModelAsync(new Maas.Client.Registry.NewModel(name));
        await using (var onnx = new MemoryStream(TestArtifacts.Onnx(seed: 5)))
        {
            await fixture.Client.UploadVersionAsync(name, onnx, "mlp.onnx");
        }

        // As predict's: a count of values to show is 1 or more ("TOP -3" was printed).
        (await fixture.RunAsync("infer", name, "[1, 2, 3, 4]", "--top", "-3")).AssertFailure(ExitCodes.Usage, "usage");

        // One example without the batch dimension becomes a batch of one.
        var single = (await fixture.RunAsync("infer", name, "[1, 2, 3, 4]", "--json")).Json();
        Assert.Equal(name, (string?)single["model_name"]);
        var output = single["outputs"]![0]!;
        Assert.Equal("[1,3]", output["shape"]!.ToJsonString());
        Assert.Equal(3, Flatten(output["data"]).Count());

        var batch = (await fixture.RunWithInputAsync("""{"input": [[1, 2, 3, 4], [4, 3, 2, 1]]}""", "infer", name, "-", "--json")).Json();
        Assert.Equal("[2,3]", batch["outputs"]![0]!["shape"]!.ToJsonString());
        Assert.Equal(Flatten(output["data"]), Flatten(batch["outputs"]![0]!["data"]).Take(3));

        var full = (await fixture.RunAsync("infer", name, """{"inputs":[{"name":"input","datatype":"FP32","shape":[1,4],"data":[1,2,3,4]}]}""", "--json")).Json();
        Assert.Equal(Flatten(output["data"]), Flatten(full["outputs"]![0]!["data"]));

        // The same tensors from a JSON file (--file), as an object of input name to values.
        var file = Path.Combine(Path.GetTempPath(), $"{name}.json");
        await File.WriteAllTextAsync(file, """{"input": [[1, 2, 3, 4]]}""");
        try
        {
            var fromFile = (await fixture.RunAsync("infer", name, "--file", file, "--json")).Json();
            Assert.Equal(Flatten(output["data"]), Flatten(fromFile["outputs"]![0]!["data"]));
        }
        finally
        {
            File.Delete(file);
        }

        (await fixture.RunAsync("infer", name, "--file", file)).AssertFailure(ExitCodes.Failure, "file_not_found");

        var table = await fixture.RunAsync("infer", name, "[1, 2, 3, 4]");
        Assert.Equal(ExitCodes.Ok, table.ExitCode);
        Assert.Contains("output", table.Stdout);

        // A wrong shape is the server's 400, in one line.
        var wrong = await fixture.RunAsync("infer", name, "[1, 2, 3]");
        Assert.Equal(ExitCodes.Failure, wrong.ExitCode);
        Assert.StartsWith("error: http_400: ", Assert.Single(wrong.ErrorLines));
        (await fixture.RunAsync("infer", name, "{not json")).AssertFailure(ExitCodes.Usage, "invalid_json");
    }

    [Fact]
    public async Task Infer_names_the_classes_of_an_output_the_model_labels()
    {
        var name = Names.Unique("labelled");
        await fixture.Client.CreateModelAsync(new Maas.Client.Registry.NewModel(name));
        await using (var onnx = new MemoryStream(TestArtifacts.Onnx(seed: 5)))
        {
            await fixture.Client.UploadVersionAsync(name, onnx, "mlp.onnx");
        }

        var values = Flatten((await fixture.RunAsync("infer", name, "[1, 2, 3, 4]", "--json")).Json()["outputs"]![0]!["data"]).ToArray();
        var best = Array.IndexOf(values, values.Max());
        var unlabelled = await fixture.RunAsync("infer", name, "[1, 2, 3, 4]", "--top", "1");
        Assert.Contains("(index: value)", unlabelled.Stdout);
        Assert.Contains($"{best}: ", unlabelled.Stdout);

        string[] classes = ["cat", "dog", "bird"];
        using (var config = await fixture.Server.CreateClient(MaasTestServer.AdminKey).PutAsync(
            $"api/v1/models/{name}/config", new StringContent("""{"labels": {"output": ["cat", "dog", "bird"]}}""", System.Text.Encoding.UTF8, "application/json")))
        {
            Assert.True(config.IsSuccessStatusCode, await config.Content.ReadAsStringAsync());
        }

        var labelled = await fixture.RunAsync("infer", name, "[1, 2, 3, 4]", "--top", "3");
        Assert.Equal(ExitCodes.Ok, labelled.ExitCode);
        Assert.Contains("(class: value)", labelled.Stdout);
        Assert.Contains($"{classes[best]}: ", labelled.Stdout);
        Assert.All(classes, c => Assert.Contains(c + ": ", labelled.Stdout));

        // A batch of two rows: the second row's classes are named with their row.
        var batch = await fixture.RunAsync("infer", name, "[[1, 2, 3, 4], [4, 3, 2, 1]]", "--top", "6");
        Assert.Contains("1/cat: ", batch.Stdout);
    }

    [SharedModelFact("ultraface-rfb-320.onnx")]
    public async Task Infer_turns_a_picture_into_the_image_input_of_ultraface()
    {
        if (!SharedModels.Has("faces-sample-320x240.ppm"))
        {
            return; // the model's attribute already skips when the shared folder is absent; the picture ships with it
        }

        var name = Names.Unique("faces");
        await fixture.Client.CreateModelAsync(new Maas.Client.Registry.NewModel(name) { Task = "detection" });
        await fixture.Client.UploadVersionAsync(name, SharedModels.PathOf("ultraface-rfb-320.onnx"));
        var fromPpm = await FaceScoresAsync(name, SharedModels.PathOf("faces-sample-320x240.ppm"));
        Assert.Contains(fromPpm, s => s > 0.9); // the sample shows faces

        // The JPEG of the same photo (decoded with SkiaSharp, then resized to 320x240) finds the faces too, given
        // with --image or as the --file of an image model.
        if (SharedModels.Has("faces-sample.jpg"))
        {
            var fromJpeg = await FaceScoresAsync(name, SharedModels.PathOf("faces-sample.jpg"));
            Assert.Contains(fromJpeg, s => s > 0.9);
            var fromFile = await FaceScoresAsync(name, SharedModels.PathOf("faces-sample.jpg"), "--file");
            Assert.Equal(fromJpeg, fromFile);
        }

        var notAPicture = Path.Combine(Path.GetTempPath(), $"{name}.png");
        await File.WriteAllTextAsync(notAPicture, "not a picture");
        try
        {
            (await fixture.RunAsync("infer", name, "--image", notAPicture)).AssertFailure(ExitCodes.Usage, "invalid_image");
        }
        finally
        {
            File.Delete(notAPicture);
        }
    }

    [Fact]
    public async Task Infer_turns_a_colour_picture_into_the_grey_image_input_of_a_one_channel_model()
    {
        // A network trained on Fashion-MNIST (or any grey pictures) takes [batch, 1, H, W]: --image was refused as
        // "no image input (rank 4 with 3 channels)". An Identity model shows what the CLI sends: each pixel's luma.
        var picture = Path.Combine(Path.GetTempPath(), $"{Names.Unique("grey")}.ppm");
        byte[] pixels = [255, 0, 0, 0, 255, 0, 0, 0, 255, 100, 100, 100]; // red, green, blue, grey 100
        await File.WriteAllBytesAsync(picture, [.. "P6\n2 2\n255\n"u8.ToArray(), .. pixels]);
        double[] luma = [76 / 255.0, 150 / 255.0, 29 / 255.0, 100 / 255.0]; // 0.299 R + 0.587 G + 0.114 B, rounded
        try
        {
            foreach (var channelsLast in new[] { false, true })
            {
                var name = Names.Unique("grey");
                var batch = Maas.Core.Formats.Onnx.OnnxDimension.Symbolic("batch");
                var two = Maas.Core.Formats.Onnx.OnnxDimension.Fixed(2);
                var one = Maas.Core.Formats.Onnx.OnnxDimension.Fixed(1);
                var model = Maas.Core.Formats.Onnx.OnnxModelWriter.Identity(
                    Maas.Core.Formats.Onnx.OnnxElementType.Float, channelsLast ? [batch, two, two, one] : [batch, one, two, two]);
                await fixture.Client.CreateModelAsync(new Maas.Client.Registry.NewModel(name));
                await using (var onnx = new MemoryStream(model.ToBytes()))
                {
                    await fixture.Client.UploadVersionAsync(name, onnx, "grey.onnx");
                }

                var run = await fixture.RunAsync("infer", name, "--image", picture, "--json");
                Assert.True(run.ExitCode == 0, run.ToString());
                var output = run.Json()["outputs"]![0]!;
                Assert.Equal(channelsLast ? "[1,2,2,1]" : "[1,1,2,2]", output["shape"]!.ToJsonString());
                Assert.Equal(luma, Flatten(output["data"]), (a, b) => Math.Abs(a - b) < 1e-6);

                var raw = (await fixture.RunAsync("infer", name, "--image", picture, "--preset", "raw", "--json")).Json();
                Assert.Equal([76.0, 150, 29, 100], Flatten(raw["outputs"]![0]!["data"]));
            }
        }
        finally
        {
            File.Delete(picture);
        }
    }

    private async Task<List<double>> FaceScoresAsync(string model, string picture, string option = "--image")
    {
        var result = (await fixture.RunAsync("infer", model, option, picture, "--preset", "symmetric", "--json")).Json();
        var scores = result["outputs"]!.AsArray().Single(o => (string?)o!["name"] == "scores")!;
        Assert.Equal("[1,4420,2]", scores["shape"]!.ToJsonString());
        return Flatten(scores["data"]).Where((_, i) => i % 2 == 1).ToList();
    }

    [Fact]
    public async Task Chat_streams_an_answer_from_the_demo_llm_one_shot_from_an_argument_and_from_stdin()
    {
        var streamed = await fixture.RunAsync("chat", DemoLlm, "Hello", "--max-tokens", "8", "--seed", "1");
        Assert.True(streamed.ExitCode == 0, streamed.ToString());
        Assert.False(string.IsNullOrWhiteSpace(streamed.Stdout));

        var json = (await fixture.RunAsync("chat", DemoLlm, "Hello", "--max-tokens", "8", "--seed", "1", "--json")).Json();
        Assert.Equal(8, (int?)json["usage"]!["completion_tokens"]);
        Assert.False(string.IsNullOrEmpty((string?)json["content"]));
        Assert.Equal("length", (string?)json["finish_reason"]);

        var piped = (await fixture.RunWithInputAsync("Hello from stdin", "chat", DemoLlm, "--max-tokens", "4", "--json")).Json();
        Assert.Equal(4, (int?)piped["usage"]!["completion_tokens"]);

        (await fixture.RunAsync("chat", "no-such-llm", "Hello")).AssertFailure(ExitCodes.NotFound, "model_not_found");
    }

    [Fact]
    public async Task Chat_prints_the_first_words_of_the_answer_while_the_rest_is_still_coming()
    {
        // The relay lets the answer through up to its first piece of text and holds the rest back: a CLI that
        // streams shows that piece now; one that waited for the whole answer would show nothing.
        await using var relay = HoldingRelay.To(fixture.Server.BaseAddress);
        var environment = fixture.Environment(MaasTestServer.AdminKey);
        environment["MAAS_URL"] = relay.Address.ToString();
        var printed = new System.Text.StringBuilder();
        string Printed()
        {
            lock (printed)
            {
                return printed.ToString();
            }
        }

        var running = CliRunner.RunAsync(
            ["chat", DemoLlm, "Hello", "--max-tokens", "24", "--seed", "3"],
            environment,
            onText: piece =>
            {
                lock (printed)
                {
                    printed.Append(piece);
                }
            });
        string partial;
        try
        {
            await Conditions.WaitUntilAsync(() => relay.Holding && Printed().Length > 0, "the CLI printed part of the answer while the rest was held back");
            partial = Printed();
            Assert.True(relay.Holding, "the rest of the answer was still held back when the first words showed");
        }
        finally
        {
            relay.Release();
        }

        var run = await running;
        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.StartsWith(partial, run.Stdout, StringComparison.Ordinal);
        Assert.True(run.Stdout.TrimEnd().Length > partial.TrimEnd().Length, $"nothing came after the first piece '{partial}': {run.Stdout}");
    }

    [ToolFact("/usr/bin/script", "Debian package bsdutils")]
    public async Task Chat_at_a_terminal_without_a_prompt_is_a_conversation_until_exit()
    {
        // script(1) gives the CLI a terminal for stdin and stdout, as a person at a shell has. Two questions, a /reset
        // between them (no request), then /exit: the key, made for this test alone, is charged exactly two chat requests.
        var key = await fixture.Client.CreateKeyAsync(new Maas.Client.Tenancy.NewApiKey(Names.Unique("chatter")) { Scopes = ["infer"] });
        var info = new System.Diagnostics.ProcessStartInfo("/usr/bin/script")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in new[] { "-qefc", $"dotnet '{CliRunner.CliDll()}' chat {DemoLlm} --max-tokens 4 --seed 1", "/dev/null" })
        {
            info.ArgumentList.Add(arg);
        }

        foreach (var (name, value) in fixture.Environment(key.Key))
        {
            info.Environment[name] = value;
        }

        info.Environment["DOTNET_NOLOGO"] = "1";
        using var process = System.Diagnostics.Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.StandardInput.WriteAsync("Hello\n/reset\nAgain\n/exit\n");
        await process.StandardInput.FlushAsync();
        using var ceiling = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        try
        {
            await process.WaitForExitAsync(ceiling.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail($"the conversation did not end at /exit:\n{await stdout}");
        }

        var output = System.Text.RegularExpressions.Regex.Replace(await stdout, "\u001b\\[[0-9;?]*[A-Za-z]", "");
        Assert.True(process.ExitCode == 0, $"exit {process.ExitCode}\n{output}\n{await stderr}");
        Assert.Contains($"chatting with {DemoLlm}", output);
        var requests = await Conditions.ReadUntilAsync(
            async () => (await fixture.Client.GetUsageAsync(new Maas.Client.Tenancy.UsageQuery { Key = key.Id, GroupBy = "none" })).Totals?.Requests ?? 0,
            n => n >= 2,
            "the two questions to be counted");
        Assert.Equal(2L, requests);
    }

    [Fact]
    public async Task Bench_runs_concurrent_requests_and_reports_latency_percentiles()
    {
        var result = (await fixture.RunAsync("bench", "demo-classifier", "-n", "40", "-c", "4", "--json")).Json();
        Assert.Equal(40, (int?)result["succeeded"]);
        Assert.Equal(0, (int?)result["failed"]);
        var p50 = (double)result["p50_ms"]!;
        var p99 = (double)result["p99_ms"]!;
        Assert.True(p50 > 0 && p50 <= p99 && p99 <= (double)result["max_ms"]!, result.ToJsonString());

        var table = await fixture.RunAsync("bench", DemoLlm, "-n", "2", "-c", "2", "--max-tokens", "4");
        Assert.True(table.ExitCode == 0, table.ToString());
        Assert.Contains("P99 MS", table.Stdout);
        Assert.Contains("8 tokens generated", table.Stdout);

        // Not at a terminal, the live display is a line per 10% of the requests done, rising to 100%, then the table.
        var progress = await fixture.RunAsync("bench", "demo-classifier", "-n", "20", "-c", "2");
        Assert.True(progress.ExitCode == 0, progress.ToString());
        var percents = progress.Stdout.Split('\n')
            .Select(l => System.Text.RegularExpressions.Regex.Match(l, @"^bench demo-classifier \(20 requests, 2 at once\): (\d+)%$"))
            .Where(m => m.Success).Select(m => int.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture)).ToList();
        Assert.True(percents.Count >= 10, progress.Stdout);
        Assert.Equal(percents.Order(), percents);
        Assert.Equal(100, percents[^1]);
        Assert.True(progress.Stdout.IndexOf("P99 MS", StringComparison.Ordinal) > progress.Stdout.LastIndexOf("100%", StringComparison.Ordinal), progress.Stdout);
    }

    [Fact]
    public async Task Ps_lists_loaded_models_and_the_process_memory()
    {
        await fixture.Client.InferAsync("demo-classifier", Maas.Cli.Commands.BenchCommand.Zeros(await fixture.Client.GetModelMetadataAsync("demo-classifier")));
        var ps = (await fixture.RunAsync("ps", "--json")).Json();
        Assert.Contains("demo-classifier", ps["onnx"]!.AsArray().Select(m => (string?)m!["name"]));
        Assert.NotNull(ps["llm"]!.AsArray());
        Assert.Contains(ps["process"]!.AsObject(), p => p.Key.Contains("memory", StringComparison.Ordinal) && (double)p.Value! > 0);
        var table = await fixture.RunAsync("ps");
        Assert.Contains("demo-classifier", table.Stdout);
    }

    private static IEnumerable<double> Flatten(JsonNode? node) => node switch
    {
        JsonArray array => array.SelectMany(Flatten),
        JsonValue value => [value.GetValue<double>()],
        _ => [],
    };
}
