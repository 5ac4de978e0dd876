using System.Net;
using System.Text.Json.Nodes;
using Maas.Core.Formats.Onnx;
using Maas.Server.Tests.Support;
using Maas.Server.Tests.Training;
using Maas.Testing;

namespace Maas.Server.Tests.Optimization;

/// <summary>A server whose job worker trains and fine-tunes with one thread and times few calls per model.</summary>
public sealed class FineTuneServer : ServerPerDb
{
    /// <inheritdoc />
    protected override IReadOnlyDictionary<string, string?> Settings => new Dictionary<string, string?>
    {
        ["Maas:Training:PollMilliseconds"] = "100",
        ["Maas:Training:Threads"] = "1",
        ["Maas:Optimization:Threads"] = "1",
        ["Maas:Optimization:TimedRuns"] = "3",
    };
}

/// <summary>Pruning with <c>options.fine_tune</c>: an MLP the ggml trainer made loses accuracy to pruning and gets it back by training on.</summary>
public sealed class PruneFineTuneTests(FineTuneServer servers) : IClassFixture<FineTuneServer>
{
    private const int Size = 12;

    // An MLP trained by the training job on generated pictures of three classes; returns the dataset, model and its test accuracy.
    private static async Task<(string Dataset, string Model, double Accuracy)> TrainedMlpAsync(HttpClient client)
    {
        var (dataset, _, _) = await ImageDatasets.UploadAsync(client, 600, Size, seed: 21, "shapes.zip");
        var model = Names.Unique("mlp");
        var job = await TrainingApiTests.TrainAsync(client, $$"""
            {"model": "{{model}}", "dataset": "{{dataset}}", "task": "image-classification", "label": "label",
             "network": [{"type": "flatten"}, {"type": "dense", "units": 48}, {"type": "relu"}, {"type": "dense"}],
             "hyperparameters": {"epochs": 6, "batch_size": 16, "learning_rate": 0.003, "patience": 0}, "split": {"validation": 0.1, "test": 0.2, "seed": 5} }
            """);
        Assert.True((string?)job["status"] == "succeeded", job.ToJsonString());
        var accuracy = (double)job["result"]!["evaluation"]!["accuracy"]!;
        Assert.True(accuracy >= 0.95, job["result"]!.ToJsonString());
        return (dataset, model, accuracy);
    }

    private static async Task<JsonNode> OptimizeAsync(HttpClient client, string model, string body)
    {
        using var response = await client.PostAsync($"api/v1/models/{model}/versions/1:optimize", Api.Json(body));
        var job = await response.JsonAsync(HttpStatusCode.Accepted);
        return await client.WaitForJobAsync((string)job["id"]!, TimeSpan.FromMinutes(4));
    }

    [Fact]
    public async Task A_hard_structured_pruning_loses_accuracy_and_the_fine_tune_brings_it_back_within_a_point()
    {
        var client = (await servers.GetAsync(Db.Sqlite)).Client;
        var (dataset, model, trained) = await TrainedMlpAsync(client);

        var job = await OptimizeAsync(client, model, $$"""
            {"method": "prune-structured", "options": {"ratio": 0.95, "fine_tune": {"dataset": "{{dataset}}:1", "hyperparameters": {"epochs": 8, "learning_rate": 0.01,
            "batch_size": 16} } } }
            """);

        Assert.True((string?)job["status"] == "succeeded", job.ToJsonString());
        var report = job["result"]!["report"]!;
        var fineTune = report["fine_tune"]!;
        Assert.Equal(45, (int)report["rewrite"]!["units_removed"]!); // 48 hidden units, 3 left

        // Measured on the test split of the source's own training (the same split), which neither training saw.
        Assert.Equal(trained, (double)report["source_accuracy"]!, 6);
        Assert.Equal(120, (int)report["accuracy_rows"]!);
        Assert.True((double)fineTune["accuracy_before"]! < trained - 0.01, $"pruning to 3 units should lose accuracy: {report.ToJsonString()}");
        Assert.True((double)report["accuracy_drop"]! <= 0.01, report.ToJsonString());
        Assert.Equal("fine-tune test rows", (string?)report["compared_on"]);
        Assert.Equal("ready", (string?)job["result"]!["status"]);
        var check = report["gate"]!["checks"]!.AsArray().Single(c => (string?)c!["name"] == "max_accuracy_drop")!;
        Assert.True((bool)check["passed"]!);
        Assert.Equal("adamw", (string?)fineTune["trainer"]);
        Assert.Equal("label", (string?)fineTune["label"]);
        Assert.Equal(3, (int)fineTune["network"]!.AsArray().First(l => (string?)l!["type"] == "dense")!["units"]!);

        // The fine-tune is a phase of the job: an epoch event each, and a progress stage.
        var events = await (await client.GetAsync($"api/v1/jobs/{job["id"]}/events?limit=1000")).JsonAsync(HttpStatusCode.OK);
        var epochs = events["events"]!.AsArray().Where(e => (string?)e!["type"] == "epoch").Select(e => e!["data"]!).ToArray();
        Assert.NotEmpty(epochs);
        Assert.All(epochs, e => Assert.Equal("fine_tune", (string?)e["phase"]));
        Assert.Equal(epochs.Length, fineTune["epochs"]!.AsArray().Count);

        // The new version is the trainer's ONNX form with the pruned width, smaller than its source, and serves.
        var number = (int)job["result"]!["version"]!;
        var version = await (await client.GetAsync($"api/v1/models/{model}/versions/{number}")).JsonAsync(HttpStatusCode.OK);
        Assert.Equal("pruned", (string?)version["derived_from"]!["relation"]);
        Assert.True((double)report["size_ratio"]! < 0.2, report.ToJsonString());
        var (images, labels) = TinyImages.Generate(6, Size, seed: 99);
        var request = new JsonObject
        {
            ["inputs"] = new JsonArray(new JsonObject
            {
                ["name"] = "image",
                ["shape"] = new JsonArray(images.Length, 1, Size, Size),
                ["datatype"] = "FP32",
                ["data"] = new JsonArray(images.SelectMany(i => i).Select(b => (JsonNode)(b / 255.0)).ToArray()),
            }),
        };
        var answer = await (await client.PostAsync($"v2/models/{model}/versions/{number}/infer", Api.Json(request.ToJsonString()))).JsonAsync(HttpStatusCode.OK);
        var values = answer["outputs"]!.AsArray().Single(o => (string?)o!["name"] == "probabilities")!["data"]!.AsArray().Select(v => (double)v!).ToArray();
        var right = Enumerable.Range(0, images.Length).Count(i => Array.IndexOf(values[(i * 3)..((i * 3) + 3)], values[(i * 3)..((i * 3) + 3)].Max()) == labels[i]);
        Assert.True(right >= 5, $"{right} of {images.Length} served answers right");
    }

    [Fact]
    public async Task A_network_trained_with_gelu_and_dropout_is_pruned_through_them_and_fine_tuned()
    {
        // The trainer exports GELU as seven elementwise nodes and dropout as Identity; both pruning and the import read them.
        var client = (await servers.GetAsync(Db.Sqlite)).Client;
        var (dataset, _, _) = await ImageDatasets.UploadAsync(client, 600, Size, seed: 22, "shapes.zip");
        var model = Names.Unique("gelu");
        var trained = await TrainingApiTests.TrainAsync(client, $$"""
            {"model": "{{model}}", "dataset": "{{dataset}}", "task": "image-classification", "label": "label",
             "network": [{"type": "flatten"}, {"type": "dense", "units": 32}, {"type": "gelu"}, {"type": "dropout", "rate": 0.1}, {"type": "dense"}],
             "hyperparameters": {"epochs": 6, "batch_size": 16, "learning_rate": 0.003, "patience": 0}, "split": {"validation": 0.1, "test": 0.2, "seed": 5} }
            """);
        Assert.True((string?)trained["status"] == "succeeded", trained.ToJsonString());

        var job = await OptimizeAsync(client, model, $$"""
            {"method": "prune-structured", "options": {"ratio": 0.5, "fine_tune": {"dataset": "{{dataset}}:1", "hyperparameters": {"epochs": 4, "learning_rate": 0.01,
            "batch_size": 16} } },
             "gate": {"max_accuracy_drop": 0.05} }
            """);

        Assert.True((string?)job["status"] == "succeeded", job.ToJsonString());
        var report = job["result"]!["report"]!;
        Assert.Equal(16, (int)report["rewrite"]!["units_removed"]!);
        var network = report["fine_tune"]!["network"]!.AsArray();
        Assert.Equal(["flatten", "dense", "gelu", "dense"], network.Select(l => (string?)l!["type"]));
        Assert.Equal(16, (int)network[1]!["units"]!);
        Assert.Null(report["fine_tune"]!["import_notes"]); // the trainer's own GELU and dropout: nothing approximated
        Assert.True((double)report["accuracy_drop"]! <= 0.05, report.ToJsonString());
        Assert.Equal("ready", (string?)job["result"]!["status"]);
    }

    [Fact]
    public async Task Magnitude_pruning_with_a_fine_tune_keeps_its_zeros_and_its_accuracy()
    {
        var client = (await servers.GetAsync(Db.Sqlite)).Client;
        var (dataset, model, _) = await TrainedMlpAsync(client);

        var job = await OptimizeAsync(client, model, $$"""
            {"method": "prune-magnitude", "options": {"sparsity": 0.9, "fine_tune": {"dataset": "{{dataset}}", "hyperparameters": {"epochs": 8, "learning_rate": 0.01,
            "batch_size": 16} } } }
            """);

        Assert.True((string?)job["status"] == "succeeded", job.ToJsonString());
        var report = job["result"]!["report"]!;
        Assert.Equal((long)report["rewrite"]!["zeroed"]!, (long)report["fine_tune"]!["zeros_kept"]!);
        Assert.True((double)report["accuracy_drop"]! <= 0.01, report.ToJsonString());
        Assert.Equal("ready", (string?)job["result"]!["status"]);

        // The registered weights still have the zeros pruning made: training did not bring them back.
        var number = (int)job["result"]!["version"]!;
        using var file = await client.GetAsync($"api/v1/models/{model}/versions/{number}/artifact");
        Assert.Equal(HttpStatusCode.OK, file.StatusCode);
        var path = Path.Combine(Directory.CreateTempSubdirectory("maas-finetune-").FullName, "model.onnx");
        await File.WriteAllBytesAsync(path, await file.Content.ReadAsByteArrayAsync());
        var weights = OnnxModelReader.Parse(path).Graph.Initializer.Where(t => t.Name.EndsWith(".weight", StringComparison.Ordinal))
            .SelectMany(t => System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(t.RawData.Span).ToArray()).ToArray();
        Assert.InRange(weights.Count(w => w == 0) / (double)weights.Length, 0.89, 0.91);
        Directory.Delete(Path.GetDirectoryName(path)!, recursive: true);
    }

    [Fact]
    public async Task Without_a_fine_tune_accuracy_on_a_labelled_dataset_version_gates_the_rewrite()
    {
        var client = (await servers.GetAsync(Db.Sqlite)).Client;
        var (dataset, model, trained) = await TrainedMlpAsync(client);

        // int8 weights keep the trained MLP's accuracy: the default gate with an evaluation holds it within a point
        // and keeps the output checks, compared on the same test pictures.
        var quantised = await OptimizeAsync(client, model, $$"""{"method": "onnx-int8-dynamic", "options": {"evaluation": {"dataset": "{{dataset}}:1"} } }""");

        Assert.True((string?)quantised["status"] == "succeeded", quantised.ToJsonString());
        var report = quantised["result"]!["report"]!;
        Assert.True((string?)quantised["result"]!["status"] == "ready", report.ToJsonString());
        Assert.Equal(trained, (double)report["source_accuracy"]!, 6); // the source's own test split, as its training measured it
        Assert.Equal(120, (int)report["accuracy_rows"]!);
        Assert.True((double)report["accuracy_drop"]! <= 0.01, report.ToJsonString());
        Assert.Equal($"{dataset}:1 test split", (string?)report["accuracy_on"]);
        Assert.Equal("evaluation test rows", (string?)report["compared_on"]);
        Assert.Equal("label", (string?)report["evaluation"]!["label"]);
        Assert.Null(report["fine_tune"]);
        var checks = report["gate"]!["checks"]!.AsArray().Select(c => (string)c!["name"]!).ToArray();
        Assert.Equal(["finite_outputs", "max_relative_mean_abs_diff", "min_top1_agreement", "max_accuracy_drop"], checks);

        // Pruning 45 of 48 hidden units without training it back loses accuracy; the accuracy gate rejects that version.
        var pruned = await OptimizeAsync(client, model,
            $$"""{"method": "prune-structured", "options": {"ratio": 0.95, "evaluation": {"dataset": "{{dataset}}"} }, "gate": {"max_accuracy_drop": 0.01}, "alias": "small"}""");

        Assert.True((string?)pruned["status"] == "succeeded", pruned.ToJsonString());
        var result = pruned["result"]!;
        Assert.True((string?)result["status"] == "rejected", result.ToJsonString());
        var check = result["report"]!["gate"]!["checks"]!.AsArray().Single(c => (string?)c!["name"] == "max_accuracy_drop")!;
        Assert.False((bool)check["passed"]!);
        Assert.True((double)check["value"]! > 0.01, check.ToJsonString());
        Assert.Equal((double)result["report"]!["source_accuracy"]! - (double)result["report"]!["accuracy"]!, (double)check["value"]!, 9);
        await (await client.GetAsync($"api/v1/models/{model}/aliases/small")).ErrorAsync(HttpStatusCode.NotFound, "alias_not_found");

        // The same rewrite held to a drop it meets passes: the gate reads the threshold, not the method.
        var drop = (double)check["value"]!;
        var loose = await OptimizeAsync(client, model, $$"""{"method": "prune-structured", "options": {"ratio": 0.95, "evaluation": {"dataset": "{{dataset}}"} }, "gate":""" +
            $$""" {"max_accuracy_drop": {{(drop + 0.01).ToString(System.Globalization.CultureInfo.InvariantCulture)}} } }""");
        Assert.Equal("ready", (string?)loose["result"]!["status"]);
        Assert.Equal(drop, (double)loose["result"]!["report"]!["accuracy_drop"]!, 9);
    }

    [Fact]
    public async Task A_calibration_set_that_clips_everything_looks_fine_on_its_own_rows_and_the_accuracy_gate_rejects_it()
    {
        var client = (await servers.GetAsync(Db.Sqlite)).Client;
        var (dataset, model, _) = await TrainedMlpAsync(client);

        // Near-black pictures (pixels 0-10 of 255): every activation range is tiny, so real pictures (stripes of 200
        // on 30) clip to a flat grey in the int8 model.
        var random = new Random(8);
        var dark = Enumerable.Range(0, 60).Select(_ => Enumerable.Range(0, Size * Size).Select(_ => (byte)random.Next(0, 11)).ToArray()).ToArray();
        var darkSet = await TrainingApiTests.DatasetAsync(client, IdxFiles.Zip(dark, Enumerable.Range(0, dark.Length).Select(i => i % 3).ToArray(), Size, Size), "dark.zip");

        var clipped = await OptimizeAsync(client, model,
            $$"""{"method": "onnx-int8-static", "options": {"calibration": "{{darkSet}}", "evaluation": {"dataset": "{{dataset}}"} } }""");

        Assert.True((string?)clipped["status"] == "succeeded", clipped.ToJsonString());
        var report = clipped["result"]!["report"]!;
        Assert.Equal("calibration pictures", (string?)report["compared_on"]);
        Assert.True((string?)clipped["result"]!["status"] == "rejected", report.ToJsonString());
        var checks = report["gate"]!["checks"]!.AsArray().ToDictionary(c => (string)c!["name"]!, c => c!);
        Assert.False((bool)checks["max_accuracy_drop"]["passed"]!);
        Assert.True((double)report["accuracy_drop"]! > 0.2, report.ToJsonString());

        // Calibrated on the training pictures themselves, the same method keeps the accuracy and is ready.
        var calibrated = await OptimizeAsync(client, model,
            $$"""{"method": "onnx-int8-static", "options": {"calibration": "{{dataset}}", "evaluation": {"dataset": "{{dataset}}"} } }""");

        Assert.True((string?)calibrated["status"] == "succeeded", calibrated.ToJsonString());
        Assert.True((string?)calibrated["result"]!["status"] == "ready", calibrated["result"]!.ToJsonString());
        Assert.True((double)calibrated["result"]!["report"]!["accuracy_drop"]! <= 0.01);
    }

    [Fact]
    public async Task Fine_tune_requests_that_cannot_work_get_400_with_a_code()
    {
        var client = (await servers.GetAsync(Db.Sqlite)).Client;
        var (dataset, _, _) = await ImageDatasets.UploadAsync(client, 30, Size, seed: 3, "shapes.zip");
        var uploaded = await client.CreateModelAsync();
        await client.UploadAsync(uploaded, OnnxModelWriter.Mlp(DenseLayer.RandomStack(32, [64], 8, seed: 11)).ToBytes(), "model.onnx");

        async Task Refused(string body, string code)
        {
            using var response = await client.PostAsync($"api/v1/models/{uploaded}/versions/1:optimize", Api.Json(body));
            var error = await response.JsonAsync(HttpStatusCode.BadRequest);
            Assert.True(error.ToJsonString().Contains(code, StringComparison.Ordinal), error.ToJsonString());
        }

        // Not a network the ggml trainer made, a method without fine-tuning, a dataset that does not exist, bad fields.
        await Refused($$"""{"method": "prune-structured", "options": {"ratio": 0.5, "fine_tune": {"dataset": "{{dataset}}"} } }""", "fine_tune_not_applicable");
        await Refused($$"""{"method": "onnx-fp16", "options": {"fine_tune": {"dataset": "{{dataset}}"} } }""", "invalid_options");
        await Refused("""{"method": "prune-structured", "options": {"ratio": 0.5, "fine_tune": {"dataset": "no-such-dataset"} } }""", "dataset_not_found");
        await Refused("""{"method": "prune-structured", "options": {"ratio": 0.5, "fine_tune": {}}}""", "invalid_fine_tune");
        await Refused($$"""{"method": "prune-structured", "options": {"ratio": 0.5, "fine_tune": {"dataset": "{{dataset}}", "hyperparameters": {"epochs": 0} } } }""",
            "invalid_fine_tune");
        await Refused($$"""{"method": "prune-structured", "options": {"ratio": 0.5, "fine_tune": {"dataset": "{{dataset}}", "optimizer": "adamw"} } }""", "invalid_fine_tune");

        // options.evaluation: a model MaaS did not train needs its label named; never alongside a fine-tune.
        await Refused($$"""{"method": "onnx-int8-dynamic", "options": {"evaluation": {"dataset": "{{dataset}}"} } }""", "invalid_evaluation");
        await Refused($$"""{"method": "prune-structured", "options": {"ratio": 0.5, "fine_tune": {"dataset": "{{dataset}}"}, "evaluation": {"dataset": "{{dataset}}"} } }""",
            "invalid_options");
        await Refused($$"""{"method": "onnx-fp16", "options": {"evaluation": {"dataset": "{{dataset}}", "split": {"test": 0.9} } } }""", "invalid_evaluation");
    }
}
