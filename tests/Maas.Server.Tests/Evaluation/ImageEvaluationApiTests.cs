using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using Maas.Core.Datasets;
using Maas.Core.Jobs.Queue;
using Maas.Core.Registry;
using Maas.Core.Training;
using Maas.Server.Tests.Support;
using Maas.Server.Tests.Training;
using Maas.Testing;
using Maas.Training;
using Microsoft.Extensions.DependencyInjection;

namespace Maas.Server.Tests.Evaluation;

/// <summary>Evaluating an image classifier MaaS trained (a ggml CNN exported to ONNX) on IDX image datasets.</summary>
public sealed class ImageEvaluationApiTests(ImageTrainingServer servers) : IClassFixture<ImageTrainingServer>
{
    private const int Size = 12;

    [Fact]
    public async Task A_cnn_scores_its_own_test_split_as_its_training_job_did_and_counts_every_image_of_the_dataset()
    {
        var server = await servers.GetAsync(Db.Sqlite);
        var client = server.Client;
        var (dataset, images, labels) = await ImageDatasets.UploadAsync(client, 200, Size, seed: 13, "shapes.zip");
        var model = Names.Unique("shapes-eval");
        var job = await TrainingApiTests.TrainAsync(client, $$"""
            {"model": "{{model}}", "dataset": "{{dataset}}", "task": "image-classification", "label": "label",
             "hyperparameters": {"epochs": 2, "batch_size": 16, "learning_rate": 0.003}, "split": {"validation": 0.1, "test": 0.3, "seed": 7} }
            """);
        Assert.True((string?)job["status"] == "succeeded", job.ToJsonString());
        var trained = (await (await client.GetAsync($"api/v1/models/{model}/versions/1")).JsonAsync(HttpStatusCode.OK))["evaluation"]!;

        // The rows the job tested on: its own split of the same table, by its spec's fractions and seed.
        var test = await TestRowsAsync(server, (string)job["id"]!, dataset);
        Assert.Equal((int)trained["rows"]!, test.Length);
        var testSet = await TrainingApiTests.DatasetAsync(client, IdxFiles.Zip([.. test.Select(r => images[r])], [.. test.Select(r => labels[r])], Size, Size), "test.zip");

        // ONNX Runtime scoring the exported file answers as ggml did on those rows (the job checked the logits agree).
        var onTest = (await EvaluateAsync(client, model, $$"""{"dataset": "{{testSet}}"}"""))["result"]!;
        Assert.Equal(test.Length, (int)onTest["rows"]!);
        Assert.Equal((double)trained["accuracy"]!, (double)onTest["accuracy"]!, 12);
        Assert.Equal((double)trained["log_loss"]!, (double)onTest["log_loss"]!, 3);
        Assert.Equal(trained["confusion_matrix"]!.ToJsonString(), onTest["confusion_matrix"]!.ToJsonString());

        // On the whole dataset every image is counted once: per class, in the matrix, and in the accuracy.
        var all = (await EvaluateAsync(client, model, $$"""{"dataset": "{{dataset}}"}"""))["result"]!;
        Assert.Equal(images.Length, (int)all["rows"]!);
        var perClass = all["per_class"]!.AsObject();
        Assert.Equal(["0", "1", "2"], perClass.Select(p => p.Key));
        Assert.Equal(images.Length, perClass.Sum(p => (int)p.Value!["support"]!));
        foreach (var (name, metrics) in perClass)
        {
            Assert.Equal(labels.Count(l => l.ToString(System.Globalization.CultureInfo.InvariantCulture) == name), (int)metrics!["support"]!);
        }

        var matrix = all["confusion_matrix"]!["matrix"]!.AsArray().Select(r => r!.AsArray().Select(c => (int)c!).ToArray()).ToArray();
        Assert.Equal(images.Length, matrix.Sum(r => r.Sum()));
        Assert.Equal((double)Enumerable.Range(0, 3).Sum(i => matrix[i][i]) / images.Length, (double)all["accuracy"]!, 12);
        Assert.True((double)all["accuracy"]! > 0.5, all.ToJsonString());
    }

    // A CNN trained for one epoch on 60 generated pictures (the dataset named after the model): a version to evaluate.
    private static async Task<(string Model, string Dataset, byte[][] Images)> TrainOneEpochAsync(HttpClient client, int seed, string prefix)
    {
        var (dataset, images, _) = await ImageDatasets.UploadAsync(client, 60, Size, seed: seed, $"{prefix}.zip");
        var model = Names.Unique(prefix);
        var job = await TrainingApiTests.TrainAsync(client, $$"""
            {"model": "{{model}}", "dataset": "{{dataset}}", "task": "image-classification", "label": "label",
             "hyperparameters": {"epochs": 1, "batch_size": 16}, "split": {"validation": 0.1, "test": 0.2, "seed": 1} }
            """);
        Assert.True((string?)job["status"] == "succeeded", job.ToJsonString());
        return (model, dataset, images);
    }

    [Fact]
    public async Task Images_of_another_size_and_labels_that_are_none_of_the_classes_are_refused_with_400()
    {
        var server = await servers.GetAsync(Db.Sqlite);
        var client = server.Client;
        var (model, _, _) = await TrainOneEpochAsync(client, seed: 14, "few");

        var (larger, _, _) = await ImageDatasets.UploadAsync(client, 20, Size + 4, seed: 15, "larger.zip");
        var size = await (await client.PostAsync($"api/v1/models/{model}/versions/1/evaluations",
            Api.Json($$"""{"dataset": "{{larger}}"}"""))).ErrorAsync(HttpStatusCode.BadRequest, "invalid_column");
        Assert.Equal("image", (string?)size["column"]);
        Assert.Contains("16x16", (string?)size["message"], StringComparison.Ordinal);
        Assert.Contains("12x12", (string?)size["message"], StringComparison.Ordinal);

        // Labels 7, 8 and 9: the version learned 0, 1 and 2, so this is not a column it can be measured on.
        var (pictures, labels) = TinyImages.Generate(20, Size, seed: 16);
        var other = await TrainingApiTests.DatasetAsync(client, IdxFiles.Zip(pictures, [.. labels.Select(l => l + 7)], Size, Size), "other.zip");
        var classes = await (await client.PostAsync($"api/v1/models/{model}/versions/1/evaluations",
            Api.Json($$"""{"dataset": "{{other}}"}"""))).ErrorAsync(HttpStatusCode.BadRequest, "invalid_label");
        Assert.Contains("0, 1, 2", (string?)classes["message"], StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_version_optimised_from_a_trained_cnn_is_evaluated_on_the_image_column_its_source_was_trained_on()
    {
        var server = await servers.GetAsync(Db.Sqlite);
        var client = server.Client;
        var (model, dataset, images) = await TrainOneEpochAsync(client, seed: 17, "shapes-opt");

        // Version 2 is version 1 with float16 weights: same task, classes and input, made by optimisation, not training.
        using var optimise = await client.PostAsync($"api/v1/models/{model}/versions/1:optimize",
            Api.Json("""{"method": "onnx-fp16", "gate": {"max_relative_mean_abs_diff": 1, "min_top1_agreement": 0}}"""));
        var optimised = await client.WaitForJobAsync((string)(await optimise.JsonAsync(HttpStatusCode.Accepted))["id"]!, TimeSpan.FromMinutes(2));
        Assert.True((string?)optimised["status"] == "succeeded", optimised.ToJsonString());
        Assert.Equal(2, (int)optimised["result"]!["version"]!);

        // It was refused as version_not_trained ("was not trained by MaaS"): the image column comes from version 1's lineage.
        var source = (await EvaluateAsync(client, model, $$"""{"dataset": "{{dataset}}"}"""))["result"]!;
        var scored = (await EvaluateAsync(client, model, $$"""{"dataset": "{{dataset}}"}""", version: 2))["result"]!;
        Assert.Equal((images.Length, "label"), ((int)scored["rows"]!, (string?)scored["label"]));
        Assert.Equal((double)source["accuracy"]!, (double)scored["accuracy"]!, 1);
    }

    private static async Task<int[]> TestRowsAsync(MaasTestServer server, string jobId, string dataset)
    {
        var job = await server.Services.GetRequiredService<IJobQueueStore>().GetAsync(jobId, CancellationToken.None);
        var spec = JsonSerializer.Deserialize<TrainingSpec>(job!.Spec, RegistryJson.Options)!;
        var catalog = server.Services.GetRequiredService<DatasetCatalog>();
        var table = await catalog.LoadAsync(await catalog.GetVersionAsync(dataset, spec.Dataset.Version, CancellationToken.None), CancellationToken.None);
        return TabularData.From(spec, table).Split().Test;
    }

    private static async Task<JsonNode> EvaluateAsync(HttpClient client, string model, string body, int version = 1)
    {
        using var submitted = await client.PostAsync($"api/v1/models/{model}/versions/{version}/evaluations", Api.Json(body));
        var job = await submitted.JsonAsync(HttpStatusCode.Accepted);
        var ended = await client.WaitForJobAsync((string)job["id"]!, TimeSpan.FromMinutes(2));
        Assert.True((string?)ended["status"] == "succeeded", ended.ToJsonString());
        return ended;
    }
}
