using System.Net;
using Maas.Core.TensorServing;
using Maas.Server.Tests.Deployments;
using Maas.Server.Tests.Support;
using Microsoft.Extensions.DependencyInjection;
using static Maas.Testing.Conditions;

namespace Maas.Server.Tests.TensorInference;

/// <summary>The tensor model manager forgets a deleted model's operator unload: nothing stays per deleted model, and a new model of the name serves.</summary>
public sealed class ModelManagerMemoryTests(DeploymentMemoryServers servers) : IClassFixture<DeploymentMemoryServers>
{
    private const string Row = """{"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": [0.5, -1.25, 2.0, 0.75]}]}""";

    [Fact]
    public async Task Deleting_unloaded_models_forgets_their_unload_and_a_model_made_again_under_the_name_serves()
    {
        var server = await servers.GetAsync(Db.Sqlite);
        var client = server.Client;
        var manager = server.Services.GetRequiredService<ModelManager>();
        var start = manager.UnloadedModelCount;

        var models = new List<string>();
        for (var i = 0; i < 10; i++)
        {
            var model = await client.CreateModelAsync();
            await client.UploadAsync(model, TestArtifacts.Onnx(1), "model.onnx");
            Assert.Equal(HttpStatusCode.OK, (await client.PostAsync($"v2/repository/models/{model}/unload", null)).StatusCode);
            models.Add(model);
        }

        Assert.Equal(start + 10, manager.UnloadedModelCount);
        foreach (var model in models)
        {
            Assert.Equal(HttpStatusCode.NoContent, (await client.DeleteAsync($"api/v1/models/{model}?force=true")).StatusCode);
        }

        await WaitUntilAsync(() => manager.UnloadedModelCount == start, $"the unloads back to {start} (now {manager.UnloadedModelCount})");

        // The name is free again: a model made under it is a new model, loadable like any other.
        await client.CreateModelAsync(models[0]);
        await client.UploadAsync(models[0], TestArtifacts.Onnx(2), "model.onnx");
        using var answer = await client.PostAsync($"v2/models/{models[0]}/infer", Api.Json(Row));
        Assert.Equal(HttpStatusCode.OK, answer.StatusCode);
    }

    [Fact]
    public void A_versions_statistics_count_a_bounded_number_of_batch_sizes_apart_and_every_execution_in_the_totals()
    {
        // Without batching a request runs as it came: its row count is the caller's, so sizes are unbounded.
        var statistics = new InferenceStatistics();
        for (var size = 1; size <= 5000; size++)
        {
            statistics.RecordExecution(size, 1, 10, 20, 30);
        }

        statistics.RecordExecution(1, 1, 10, 20, 30); // a size counted apart goes on counting
        var snapshot = statistics.Snapshot("m", "1");
        Assert.Equal(InferenceStatistics.MaxBatchSizes, statistics.BatchSizeCount);
        Assert.Equal(InferenceStatistics.MaxBatchSizes, snapshot.BatchStats.Count);
        Assert.Equal(5001, snapshot.ExecutionCount);
        Assert.Equal(5001, snapshot.ComputeInfer.Count);
        Assert.Equal(2, snapshot.BatchStats.Single(b => b.BatchSize == 1).ComputeInfer.Count);
    }
}
