using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Maas.Core.Formats.Onnx;
using Maas.Server.Tests.Support;
using Maas.Server.Tests.Training;
using Maas.Testing;

namespace Maas.Server.Tests.Optimization;

/// <summary>
/// <c>options.evaluation</c> on table classifiers MaaS trained (ML.NET, exported to ONNX) and on uploaded ONNX
/// classifiers the request describes: accuracy of source and rewrite on labelled rows, held by the gate.
/// </summary>
public sealed class OptimizationEvaluationTests(FineTuneServer servers) : IClassFixture<FineTuneServer>
{
    private static readonly string[] Colours = ["amber", "blue", "coral"];
    private static readonly string[] Animals = ["cat", "dog", "fox"];

    // Three overlapping clusters in four informative columns, and four columns of noise; text labels.
    private static byte[] Clusters(int rows, int seed)
    {
        var random = new Random(seed);
        double[][] centres = [[0, 0, 0, 0], [2, 0, 1, -1], [0, 2, -1, 1]];
        var text = new StringBuilder("x0,x1,x2,x3,n0,n1,n2,n3,colour\n");
        for (var r = 0; r < rows; r++)
        {
            var c = r % 3;
            var values = centres[c].Select(m => m + Gaussian(random)).Concat(Enumerable.Range(0, 4).Select(_ => Gaussian(random)));
            text.Append(string.Join(",", values.Select(v => v.ToString("0.####", CultureInfo.InvariantCulture)))).Append(',').Append(Colours[c]).Append('\n');
        }

        return Encoding.UTF8.GetBytes(text.ToString());
    }

    private static double Gaussian(Random random) => Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());

    // Two overlapping classes: eight informative columns, four of noise and a city the label does not depend on
    // (16 feature slots once the city is one-hot encoded: enough weights for the int8 quantiser, which leaves fewer).
    private static byte[] TwoClasses(int rows, int seed)
    {
        var random = new Random(seed);
        string[] cities = ["lima", "oslo", "pune", "rome"];
        var text = new StringBuilder("x0,x1,x2,x3,x4,x5,x6,x7,n0,n1,n2,n3,city,churn\n");
        for (var r = 0; r < rows; r++)
        {
            var yes = r % 2 == 0;
            var values = Enumerable.Range(0, 8).Select(i => (yes ? 0.4 : -0.4) * (i % 2 == 0 ? 1 : -1) + Gaussian(random))
                .Concat(Enumerable.Range(0, 4).Select(_ => Gaussian(random)));
            text.Append(string.Join(",", values.Select(v => v.ToString("0.####", CultureInfo.InvariantCulture)))).Append(',').Append(cities[random.Next(4)]).Append(',')
                .Append(yes ? "yes" : "no").Append('\n');
        }

        return Encoding.UTF8.GetBytes(text.ToString());
    }

    // Rows of six numbers in [-1, 1] labelled by the layer's own argmax (so the source is right on every row), with an id and a note the model does not read.
    private static byte[] Labelled(DenseLayer layer, int rows, int seed)
    {
        var random = new Random(seed);
        var text = new StringBuilder("id,f0,f1,f2,f3,f4,f5,note,species\n");
        var scale = layer.Weight.Max(Math.Abs);
        for (var r = 0; r < rows;)
        {
            var x = Enumerable.Range(0, layer.Inputs).Select(_ => Math.Round((random.NextDouble() * 2) - 1, 3)).ToArray();
            var scores = Enumerable.Range(0, layer.Outputs).Select(o => layer.Bias[o] + Enumerable.Range(0, layer.Inputs).Sum(i => x[i] * layer.Weight[(i * layer.Outputs) + o]))
                .ToArray();
            var top = Array.IndexOf(scores, scores.Max());

            // Rows near a class boundary are left out: int8 rounding may fairly flip those.
            var sorted = scores.Order().ToArray();
            if (sorted[^1] - sorted[^2] < 1.2 * scale)
            {
                continue;
            }

            text.Append(CultureInfo.InvariantCulture, $"{r},{string.Join(",", x.Select(v => v.ToString(CultureInfo.InvariantCulture)))},row {r},{Animals[top]}\n");
            r++;
        }

        return Encoding.UTF8.GetBytes(text.ToString());
    }

    private static DenseLayer Linear(int outputs, float scale, int seed)
    {
        var layer = DenseLayer.RandomStack(6, [], outputs, seed)[0];
        return layer with { Weight = layer.Weight.Select(w => w * scale).ToArray(), Bias = layer.Bias.Select(b => b * scale).ToArray() };
    }

    private static async Task<JsonNode> OptimizeAsync(HttpClient client, string model, string body, int version = 1)
    {
        using var response = await client.PostAsync($"api/v1/models/{model}/versions/{version}:optimize", Api.Json(body));
        var job = await response.JsonAsync(HttpStatusCode.Accepted);
        return await client.WaitForJobAsync((string)job["id"]!, TimeSpan.FromMinutes(4));
    }

    private static JsonNode Check(JsonNode report, string name) => report["gate"]!["checks"]!.AsArray().Single(c => (string?)c!["name"] == name)!;

    [Fact]
    public async Task A_table_classifier_maas_trained_is_quantised_and_pruned_within_a_point_on_its_own_test_split()
    {
        var client = (await servers.GetAsync(Db.Sqlite)).Client;
        var dataset = await TrainingApiTests.DatasetAsync(client, Clusters(600, seed: 3), "clusters.csv");
        var model = Names.Unique("table");
        var trained = await TrainingApiTests.TrainAsync(client, $$"""
            {"model": "{{model}}", "dataset": "{{dataset}}", "task": "multiclass-classification", "label": "colour", "trainer": "lbfgs",
             "split": {"validation": 0.1, "test": 0.2, "seed": 5} }
            """);
        Assert.True((string?)trained["status"] == "succeeded", trained.ToJsonString());
        var evaluation = trained["result"]!["evaluation"]!;
        var trainedAccuracy = (double)evaluation["accuracy"]!;
        Assert.InRange(trainedAccuracy, 0.6, 0.99); // overlapping clusters: errors the rewrite could add to

        // int8 weights: ML.NET's LinearClassifier is lowered to a MatMul the quantiser rewrites; the default gate with an
        // evaluation holds the output checks and the accuracy to a point below the source.
        var quantised = await OptimizeAsync(client, model, $$"""{"method": "onnx-int8-dynamic", "options": {"evaluation": {"dataset": "{{dataset}}"} } }""");

        Assert.True((string?)quantised["status"] == "succeeded", quantised.ToJsonString());
        var report = quantised["result"]!["report"]!;
        Assert.True((string?)quantised["result"]!["status"] == "ready", report.ToJsonString());
        Assert.Equal(1, (int)report["rewrite"]!["linear_classifiers_lowered"]!);
        Assert.Equal(1, (int)report["rewrite"]!["matmuls_quantized"]!);

        // The source's own test split, fed and decoded as /predict does: the training job's accuracy to the digit.
        Assert.Equal(trainedAccuracy, (double)report["source_accuracy"]!, 6);
        Assert.Equal((int)evaluation["rows"]!, (int)report["accuracy_rows"]!);
        Assert.Equal($"{dataset}:1 test split", (string?)report["accuracy_on"]);
        Assert.Equal("evaluation test rows", (string?)report["compared_on"]);
        Assert.Equal("colour", (string?)report["evaluation"]!["label"]);
        Assert.Equal(["x0", "x1", "x2", "x3", "n0", "n1", "n2", "n3"], report["evaluation"]!["features"]!.AsArray().Select(f => (string?)f));
        Assert.Equal(Colours, report["evaluation"]!["classes"]!.AsArray().Select(c => (string?)c));
        Assert.Equal(5, (int)report["evaluation"]!["split"]!["seed"]!);
        var drop = Check(report, "max_accuracy_drop");
        Assert.True((bool)drop["passed"]!, report.ToJsonString());
        Assert.Equal(0.01, (double)drop["threshold"]!);
        Assert.Equal((double)report["source_accuracy"]! - (double)report["accuracy"]!, (double)drop["value"]!, 9);
        Assert.InRange((double)report["accuracy_drop"]!, -0.01, 0.01);

        // The new version answers /predict like its source (it keeps the source's table metadata).
        var number = (int)quantised["result"]!["version"]!;
        var instance = """{"instances": [{"x0": 2, "x1": 0, "x2": 1, "x3": -1, "n0": 0, "n1": 0, "n2": 0, "n3": 0}, {"x0": 0, "x1": 2, "x2": -1, "x3": 1, "n0": 0, "n1": 0,""" +
            """ "n2": 0, "n3": 0}]}""";
        var answer = await (await client.PostAsync($"api/v1/models/{model}/versions/{number}/predict", Api.Json(instance))).JsonAsync(HttpStatusCode.OK);
        Assert.Equal(["blue", "coral"], answer["predictions"]!.AsArray().Select(p => (string?)p!["label"]));

        // Magnitude pruning of the lowered weights (the smallest are the noise columns'), held to the accuracy alone.
        var pruned = await OptimizeAsync(client, model,
            $$"""{"method": "prune-magnitude", "options": {"sparsity": 0.3, "evaluation": {"dataset": "{{dataset}}:1"} }, "gate": {"max_accuracy_drop": 0.01} }""");

        Assert.True((string?)pruned["status"] == "succeeded", pruned.ToJsonString());
        var prunedReport = pruned["result"]!["report"]!;
        Assert.True((string?)pruned["result"]!["status"] == "ready", prunedReport.ToJsonString());
        Assert.Equal(1, (int)prunedReport["rewrite"]!["tensors_pruned"]!); // the lowered 8 x 3 weight
        Assert.Equal(24, (long)prunedReport["rewrite"]!["weights"]!);
        Assert.Equal(trainedAccuracy, (double)prunedReport["source_accuracy"]!, 6);
        Assert.True((bool)Check(prunedReport, "max_accuracy_drop")["passed"]!);
        Assert.Equal("pruned", (string?)(await (await client.GetAsync(
            $"api/v1/models/{model}/versions/{(int)pruned["result"]!["version"]!}")).JsonAsync(HttpStatusCode.OK))["derived_from"]!["relation"]);

        // Quantising the pruned version: its label and split come from the training of the version it was derived from
        // (its own metadata records no training).
        var again = await OptimizeAsync(client, model, $$"""{"method": "onnx-int8-dynamic", "options": {"evaluation": {"dataset": "{{dataset}}"} } }""",
            (int)pruned["result"]!["version"]!);
        Assert.True((string?)again["status"] == "succeeded", again.ToJsonString());
        var againReport = again["result"]!["report"]!;
        Assert.Equal("colour", (string?)againReport["evaluation"]!["label"]);
        Assert.Equal(5, (int)againReport["evaluation"]!["split"]!["seed"]!);
        Assert.Equal($"{dataset}:1 test split", (string?)againReport["accuracy_on"]);

        // The table model's evaluation takes its own features only.
        using var refused = await client.PostAsync($"api/v1/models/{model}/versions/1:optimize",
            Api.Json($$"""{"method": "onnx-int8-dynamic", "options": {"evaluation": {"dataset": "{{dataset}}", "features": ["x0"]} } }"""));
        var error = await refused.ErrorAsync(HttpStatusCode.BadRequest, "invalid_evaluation");
        Assert.Contains("takes the features x0, x1, x2, x3, n0, n1, n2, n3", (string?)error["message"], StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_binary_table_classifier_maas_trained_is_quantised_and_pruned_within_a_point_on_its_own_test_split()
    {
        // ML.NET's binary linear trainers export their score as a LinearRegressor (then a calibrator and a threshold):
        // lowered to a MatMul, it quantises and prunes; the text column makes the comparison feed strings too.
        var client = (await servers.GetAsync(Db.Sqlite)).Client;
        var dataset = await TrainingApiTests.DatasetAsync(client, TwoClasses(800, seed: 11), "churn.csv");
        foreach (var (trainer, method, options) in new[] { ("sdca", "onnx-int8-dynamic", ""), ("lbfgs", "prune-magnitude", "\"sparsity\": 0.25, ") })
        {
            var model = Names.Unique("binary");
            var trained = await TrainingApiTests.TrainAsync(client, $$"""
                {"model": "{{model}}", "dataset": "{{dataset}}", "task": "binary-classification", "label": "churn", "trainer": "{{trainer}}",
                 "split": {"validation": 0.1, "test": 0.25, "seed": 5} }
                """);
            Assert.True((string?)trained["status"] == "succeeded", trained.ToJsonString());
            var trainedAccuracy = (double)trained["result"]!["evaluation"]!["accuracy"]!;
            Assert.InRange(trainedAccuracy, 0.6, 0.97); // overlapping classes: errors the rewrite could add to

            var job = await OptimizeAsync(client, model, $$"""{"method": "{{method}}", "options": { {{options}}"evaluation": {"dataset": "{{dataset}}"} } }""");

            Assert.True((string?)job["status"] == "succeeded", job.ToJsonString());
            var report = job["result"]!["report"]!;
            Assert.True((string?)job["result"]!["status"] == "ready", report.ToJsonString());
            Assert.Equal(1, (int)report["rewrite"]!["linear_regressors_lowered"]!);
            Assert.Equal(1, (int)report["rewrite"]![method == "prune-magnitude" ? "tensors_pruned" : "matmuls_quantized"]!);
            Assert.Equal(trainedAccuracy, (double)report["source_accuracy"]!, 6); // the training's own test split, decoded as /predict does
            Assert.Equal(200, (int)report["accuracy_rows"]!);
            var drop = Check(report, "max_accuracy_drop");
            Assert.True((bool)drop["passed"]!, report.ToJsonString());
            Assert.Equal(0.01, (double)drop["threshold"]!);
            Assert.InRange((double)report["accuracy_drop"]!, -0.01, 0.01);

            // The new version answers /predict with the source's labels and types.
            var instance = """{"instances": [{"x0": 2, "x1": -2, "x2": 2, "x3": -2, "x4": 2, "x5": -2, "x6": 2, "x7": -2, "n0": 0, "n1": 0, "n2": 0, "n3": 0, "city": "oslo"},""" +
                """ {"x0": -2, "x1": 2, "x2": -2, "x3": 2, "x4": -2, "x5": 2, "x6": -2, "x7": 2, "n0": 0, "n1": 0, "n2": 0, "n3": 0, "city": "lima"}]}""";
            var answer = await (await client.PostAsync($"api/v1/models/{model}/versions/{(int)job["result"]!["version"]!}/predict",
                Api.Json(instance))).JsonAsync(HttpStatusCode.OK);
            Assert.Equal(["yes", "no"], answer["predictions"]!.AsArray().Select(p => (string?)p!["label"]));
        }
    }

    [Fact]
    public async Task A_tree_ensemble_is_refused_at_submission_by_methods_that_rewrite_weights_and_onnx_optimize_makes_a_checked_version()
    {
        var client = (await servers.GetAsync(Db.Sqlite)).Client;
        var dataset = await TrainingApiTests.DatasetAsync(client, TwoClasses(400, seed: 12), "churn.csv");
        var model = Names.Unique("trees");
        var trained = await TrainingApiTests.TrainAsync(client, $$"""
            {"model": "{{model}}", "dataset": "{{dataset}}", "task": "binary-classification", "label": "churn", "trainer": "lightgbm", "split": {"validation": 0.1, "test": 0.25,
            "seed": 5} }
            """);
        Assert.True((string?)trained["status"] == "succeeded", trained.ToJsonString());

        // Thresholds and leaf values are node attributes: nothing float16, int8, int4 or pruning rewrites. A 400 at
        // submission naming the operator, not a queued job that fails.
        foreach (var (method, options) in new[]
        {
            ("onnx-fp16", "{}"), ("onnx-int8-dynamic", "{}"), ("onnx-int8-static", $$"""{"calibration": "{{dataset}}"}"""),
            ("onnx-int4", "{}"), ("prune-magnitude", """{"sparsity": 0.5}"""), ("prune-structured", """{"ratio": 0.5}"""),
        })
        {
            using var response = await client.PostAsync($"api/v1/models/{model}/versions/1:optimize", Api.Json($$"""{"method": "{{method}}", "options": {{options}} }"""));
            var error = await response.ErrorAsync(HttpStatusCode.BadRequest, "method_not_applicable");
            var message = (string?)error["message"];
            Assert.True(message!.Contains($"{method} cannot apply to version 1", StringComparison.Ordinal), message);
            Assert.Contains("tree ensemble (ai.onnx.ml TreeEnsembleRegressor)", message, StringComparison.Ordinal);
            Assert.Contains("onnx-optimize applies to it", message, StringComparison.Ordinal);
        }

        // onnx-optimize: ONNX Runtime's graph optimisations apply to any graph; compared on seeded inputs (strings for the
        // text column) and, with an evaluation, on the training's test split: the same answers.
        foreach (var evaluation in new[] { "", $$""", "evaluation": {"dataset": "{{dataset}}"}""" })
        {
            var job = await OptimizeAsync(client, model, $$"""{"method": "onnx-optimize", "options": {"level": "extended"{{evaluation}} } }""");

            Assert.True((string?)job["status"] == "succeeded", job.ToJsonString());
            var report = job["result"]!["report"]!;
            Assert.True((string?)job["result"]!["status"] == "ready", report.ToJsonString());
            Assert.InRange((double)report["max_abs_diff"]!, 0, 1e-6);
            Assert.Equal(0, (long)report["mismatched_values"]!);
            Assert.Equal(evaluation.Length == 0 ? "seeded random inputs" : "evaluation test rows", (string?)report["compared_on"]);
            if (evaluation.Length > 0)
            {
                Assert.Equal((double)trained["result"]!["evaluation"]!["accuracy"]!, (double)report["source_accuracy"]!, 6);
                Assert.Equal(0, (double)report["accuracy_drop"]!);
            }
        }
    }

    [Fact]
    public async Task An_uploaded_classifier_is_measured_on_the_columns_mapped_and_an_fp16_overflow_is_rejected_by_the_accuracy_gate()
    {
        var client = (await servers.GetAsync(Db.Sqlite)).Client;
        const string Mapping = """ "label": "species", "features": ["f0", "f1", "f2", "f3", "f4", "f5"], "classes": ["cat", "dog", "fox"] """;

        // A linear classifier of ordinary weights: int8 keeps its answers on the labelled rows (held to accuracy alone:
        // on a layer this small the scores move by a few percent, the answers do not).
        var plain = Linear(3, 1, seed: 7);
        var dataset = await TrainingApiTests.DatasetAsync(client, Labelled(plain, 300, seed: 1), "animals.csv");
        var model = await client.CreateModelAsync();
        await client.UploadAsync(model, OnnxModelWriter.Mlp([plain]).ToBytes(), "model.onnx");

        var quantised = await OptimizeAsync(client, model,
            $$"""{"method": "onnx-int8-dynamic", "options": {"evaluation": {"dataset": "{{dataset}}", {{Mapping}} } }, "gate": {"max_accuracy_drop": 0.01} }""");

        Assert.True((string?)quantised["status"] == "succeeded", quantised.ToJsonString());
        var report = quantised["result"]!["report"]!;
        Assert.True((string?)quantised["result"]!["status"] == "ready", report.ToJsonString());
        Assert.True((double)report["source_accuracy"]! >= 0.99, report.ToJsonString());
        Assert.Equal(300, (int)report["accuracy_rows"]!);
        Assert.Equal($"{dataset}:1 all labelled rows", (string?)report["accuracy_on"]);
        Assert.Null(report["evaluation"]!["split"]);
        Assert.Equal("input", (string?)report["evaluation"]!["input"]);
        Assert.Equal("output", (string?)report["evaluation"]!["output"]);
        Assert.Equal("scores", (string?)report["evaluation"]!["output_kind"]);
        Assert.True((bool)Check(report, "max_accuracy_drop")["passed"]!);

        // The planted error: weights far beyond float16's ±65504 become infinite, the scores NaN, the answers wrong.
        var huge = Linear(3, 1e6f, seed: 7);
        var hugeSet = await TrainingApiTests.DatasetAsync(client, Labelled(huge, 300, seed: 2), "animals.csv");
        var overflowing = await client.CreateModelAsync();
        await client.UploadAsync(overflowing, OnnxModelWriter.Mlp([huge]).ToBytes(), "model.onnx");

        var fp16 = await OptimizeAsync(client, overflowing,
            $$"""{"method": "onnx-fp16", "options": {"evaluation": {"dataset": "{{hugeSet}}", {{Mapping}}, "split": {"test": 0.5, "seed": 3} } }, "alias": "prod"}""");

        Assert.True((string?)fp16["status"] == "succeeded", fp16.ToJsonString());
        var result = fp16["result"]!;
        Assert.True((string?)result["status"] == "rejected", result.ToJsonString());
        var rejected = result["report"]!;
        Assert.True((double)rejected["source_accuracy"]! >= 0.99, rejected.ToJsonString());
        Assert.InRange((int)rejected["accuracy_rows"]!, 140, 160); // half of each class: the split asked for
        Assert.Equal($"{hugeSet}:1 test split", (string?)rejected["accuracy_on"]);
        var check = Check(rejected, "max_accuracy_drop");
        Assert.False((bool)check["passed"]!);
        Assert.Equal(0.01, (double)check["threshold"]!);
        Assert.True((double)check["value"]! > 0.3, check.ToJsonString());
        Assert.Equal((double)rejected["source_accuracy"]! - (double)rejected["accuracy"]!, (double)check["value"]!, 9);
        await (await client.GetAsync($"api/v1/models/{overflowing}/aliases/prod")).ErrorAsync(HttpStatusCode.NotFound, "alias_not_found");
    }

    [Fact]
    public async Task An_uploaded_image_classifier_is_fed_its_picture_column_through_a_preset_and_scores_as_maas_scored_it()
    {
        // An MLP the training job made, uploaded again as a plain ONNX file: nothing but the request describes it now.
        var client = (await servers.GetAsync(Db.Sqlite)).Client;
        var (dataset, _, _) = await ImageDatasets.UploadAsync(client, 600, 12, seed: 21, "shapes.zip");
        var trainedModel = Names.Unique("mlp");
        var trained = await TrainingApiTests.TrainAsync(client, $$"""
            {"model": "{{trainedModel}}", "dataset": "{{dataset}}", "task": "image-classification", "label": "label",
             "network": [{"type": "flatten"}, {"type": "dense", "units": 48}, {"type": "relu"}, {"type": "dense"}],
             "hyperparameters": {"epochs": 6, "batch_size": 16, "learning_rate": 0.003, "patience": 0}, "split": {"validation": 0.1, "test": 0.2, "seed": 5} }
            """);
        Assert.True((string?)trained["status"] == "succeeded", trained.ToJsonString());
        var trainedAccuracy = (double)trained["result"]!["evaluation"]!["accuracy"]!;
        using var artifact = await client.GetAsync($"api/v1/models/{trainedModel}/versions/1/artifact");
        Assert.Equal(HttpStatusCode.OK, artifact.StatusCode);
        var model = await client.CreateModelAsync();
        await client.UploadAsync(model, await artifact.Content.ReadAsByteArrayAsync(), "model.onnx");

        // Without the training's metadata, MaaS does not guess how pixels are normalised.
        using var unknown = await client.PostAsync($"api/v1/models/{model}/versions/1:optimize",
            Api.Json($$"""{"method": "onnx-int8-dynamic", "options": {"evaluation": {"dataset": "{{dataset}}", "label": "label"} } }"""));
        var error = await unknown.ErrorAsync(HttpStatusCode.BadRequest, "invalid_evaluation");
        Assert.Contains("options.evaluation.preprocess", (string?)error["message"], StringComparison.Ordinal);

        var job = await OptimizeAsync(client, model, $$"""
            {"method": "onnx-int8-dynamic", "options": {"evaluation": {"dataset": "{{dataset}}", "label": "label", "preprocess": "unit", "split": {"validation": 0.1, "test": 0.2,
            "seed": 5} } },
             "gate": {"max_accuracy_drop": 0.01} }
            """);

        Assert.True((string?)job["status"] == "succeeded", job.ToJsonString());
        var report = job["result"]!["report"]!;
        Assert.True((string?)job["result"]!["status"] == "ready", report.ToJsonString());

        // The same pictures, pixels / 255 and the training's split: the accuracy the training job measured.
        Assert.Equal(trainedAccuracy, (double)report["source_accuracy"]!, 6);
        Assert.Equal(120, (int)report["accuracy_rows"]!);
        Assert.Single(report["evaluation"]!["features"]!.AsArray());
        Assert.Equal("image", (string?)report["evaluation"]!["input"]);
        Assert.Equal("scores", (string?)report["evaluation"]!["output_kind"]);
        Assert.StartsWith("options", (string?)report["evaluation"]!["preprocess"]!["from"], StringComparison.Ordinal);
        Assert.True((bool)Check(report, "max_accuracy_drop")["passed"]!);
    }

    [Fact]
    public async Task Evaluations_that_do_not_fit_the_model_or_the_dataset_get_400_invalid_evaluation_naming_what_is_wrong()
    {
        var client = (await servers.GetAsync(Db.Sqlite)).Client;
        var layer = Linear(3, 1, seed: 9);
        var dataset = await TrainingApiTests.DatasetAsync(client, Labelled(layer, 30, seed: 4), "animals.csv");
        var model = await client.CreateModelAsync();
        await client.UploadAsync(model, OnnxModelWriter.Mlp([layer]).ToBytes(), "model.onnx");
        var regressor = await client.CreateModelAsync();
        await client.UploadAsync(regressor, OnnxModelWriter.Mlp([Linear(1, 1, seed: 9)]).ToBytes(), "model.onnx");

        async Task Refused(string target, string evaluation, string says, string code = "invalid_evaluation")
        {
            using var response = await client.PostAsync($"api/v1/models/{target}/versions/1:optimize",
                Api.Json($$"""{"method": "onnx-int8-dynamic", "options": {"evaluation": {{evaluation}} } }"""));
            var error = await response.ErrorAsync(HttpStatusCode.BadRequest, code);
            Assert.True(((string?)error["message"])!.Contains(says, StringComparison.Ordinal), error.ToJsonString());
        }

        const string Features = """ "features": ["f0", "f1", "f2", "f3", "f4", "f5"] """;
        const string Classes = """ "classes": ["cat", "dog", "fox"] """;

        // Nothing names the label of a model MaaS did not train; a label the dataset lacks.
        await Refused(model, $$"""{"dataset": "{{dataset}}", {{Features}}, {{Classes}} }""", "options.evaluation.label is required");
        await Refused(model, $$"""{"dataset": "{{dataset}}", "label": "colour", {{Features}}, {{Classes}} }""", "has no label column 'colour'");

        // Columns: unknown, text, or not as many as the input takes.
        await Refused(model, $$"""{"dataset": "{{dataset}}", "label": "species", "features": ["f0", "f1", "f2", "f3", "f4", "nope"], {{Classes}} }""", "has no column 'nope'");
        await Refused(model, $$"""{"dataset": "{{dataset}}", "label": "species", "features": ["f0", "f1", "f2", "f3", "f4", "note"], {{Classes}} }""", "column 'note'");
        await Refused(model, $$"""{"dataset": "{{dataset}}", "label": "species", "features": ["f0", "f1"], {{Classes}} }""",
            "input 'input' [?, 6] takes 6 values per row; options.evaluation.features gives 2 columns");

        // By default every number column but the label is fed: the id makes seven.
        await Refused(model, $$"""{"dataset": "{{dataset}}", "label": "species", {{Classes}} }""", "takes 6 values per row");

        // Outputs: unknown, one value per row (not a classifier's), scores without the classes a text label needs, classes of another count.
        await Refused(model, $$"""{"dataset": "{{dataset}}", "label": "species", {{Features}}, {{Classes}}, "output": "logits"}""", "has no output 'logits'");
        await Refused(regressor, $$"""{"dataset": "{{dataset}}", "label": "species", {{Features}}, {{Classes}} }""", "is not a classifier's");
        await Refused(model, $$"""{"dataset": "{{dataset}}", "label": "species", {{Features}} }""", "give options.evaluation.classes");
        await Refused(model, $$"""{"dataset": "{{dataset}}", "label": "species", {{Features}}, "classes": ["cat", "dog"]}""",
            "gives 3 scores per row; options.evaluation.classes names 2 classes");

        // Fields: preprocessing for number columns, a bad classes list, an unknown key.
        await Refused(model, $$"""{"dataset": "{{dataset}}", "label": "species", {{Features}}, {{Classes}}, "preprocess": "unit"}""", "applies to pictures");
        await Refused(model, $$"""{"dataset": "{{dataset}}", "label": "species", {{Features}}, "classes": ["cat", "cat"]}""", "names a label twice");
        await Refused(model, $$"""{"dataset": "{{dataset}}", "label": "species", "inputs": ["f0"]}""", "not 'inputs'");
        await Refused(model, """{"dataset": "no-such-dataset", "label": "species"}""", "options.evaluation.dataset", "dataset_not_found");
    }
}
