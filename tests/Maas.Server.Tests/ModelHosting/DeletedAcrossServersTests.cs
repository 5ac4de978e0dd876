using System.Net;
using Maas.Core.Hosting;
using Maas.Core.TensorServing;
using Maas.Server.Tests.Support;
using Maas.Testing;
using Microsoft.Extensions.DependencyInjection;
using static Maas.Testing.Conditions;

namespace Maas.Server.Tests.ModelHosting;

/// <summary>
/// A version or model deleted through one server goes from another server sharing the database too: its loaded
/// instance, the host's entry, the tensor manager's statistics and operator unload (Maas:Hosting:DeletedModelCheckMs);
/// a model deleted and made again there is not served from its old files, and a changed serving configuration applies.
/// </summary>
public sealed class DeletedAcrossServersTests
{
    private const string Row = """{"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": [0.5, -1.25, 2.0, 0.75]}]}""";

    [Theory]
    [OnSqlite]
    public async Task A_version_and_then_its_model_deleted_through_one_server_are_unloaded_and_forgotten_on_the_other(Db db)
    {
        await using var servers = await TwoServers.StartAsync(db);
        var (first, second) = (servers.First, servers.Second);
        var model = await first.Client.CreateModelAsync();
        await first.Client.UploadAsync(model, TestArtifacts.Onnx(1), "model.onnx");
        await first.Client.UploadAsync(model, TestArtifacts.Onnx(2), "model.onnx");

        // Both versions serve on the second server only: loaded there, with their statistics.
        foreach (var version in new[] { 1, 2 })
        {
            using var answer = await second.Client.PostAsync($"v2/models/{model}/versions/{version}/infer", Api.Json(Row));
            Assert.Equal(HttpStatusCode.OK, answer.StatusCode);
        }

        var host = second.Services.GetRequiredService<ModelHost>();
        var manager = second.Services.GetRequiredService<ModelManager>();
        Assert.Equal(ModelState.Ready, host.Status(new ModelKey(model, 1))?.State);
        Assert.Equal(2, manager.StatisticsCount);

        using (var deleted = await first.Client.DeleteAsync($"api/v1/models/{model}/versions/1?force=true"))
        {
            Assert.Equal(HttpStatusCode.NoContent, deleted.StatusCode);
        }

        await WaitUntilAsync(() => host.Status(new ModelKey(model, 1)) is null && manager.StatisticsCount == 1,
            $"version 1 forgotten on the second server (state {host.Status(new ModelKey(model, 1))?.State}, {manager.StatisticsCount} statistics)");
        Assert.Equal(ModelState.Ready, host.Status(new ModelKey(model, 2))?.State); // the version left serves on

        // An operator's unload on the second server, then the whole model deleted through the first.
        Assert.Equal(HttpStatusCode.OK, (await second.Client.PostAsync($"v2/repository/models/{model}/unload", null)).StatusCode);
        Assert.Equal(1, manager.UnloadedModelCount);
        Assert.Equal(HttpStatusCode.NoContent, (await first.Client.DeleteAsync($"api/v1/models/{model}?force=true")).StatusCode);

        await WaitUntilAsync(() => host.Models().All(m => m.Key.Name != model) && manager.StatisticsCount == 0 && manager.UnloadedModelCount == 0,
            $"the model forgotten on the second server ({host.Models().Count(m => m.Key.Name == model)} entries, {manager.StatisticsCount} statistics, " +
            $"{manager.UnloadedModelCount} unloads)");
    }

    [Theory]
    [OnSqlite]
    public async Task A_model_deleted_and_made_again_through_one_server_serves_its_new_files_on_the_other(Db db)
    {
        await using var servers = await TwoServers.StartAsync(db);
        var (first, second) = (servers.First, servers.Second);
        var model = await first.Client.CreateModelAsync();
        await first.Client.UploadAsync(model, TestArtifacts.Onnx(1), "model.onnx");
        var old = await AnswerAsync(second, model);

        // Deleted and made again through the first server: its new version 1 has other weights (numbers restart at 1).
        Assert.Equal(HttpStatusCode.NoContent, (await first.Client.DeleteAsync($"api/v1/models/{model}?force=true")).StatusCode);
        await first.Client.CreateModelAsync(model);
        await first.Client.UploadAsync(model, TestArtifacts.Onnx(2), "model.onnx");
        var fresh = await AnswerAsync(first, model);
        Assert.NotEqual(old, fresh);

        await ReadUntilAsync(() => AnswerAsync(second, model), answer => answer == fresh, "the second server answers with the new version 1's weights");
    }

    [Theory]
    [OnSqlite]
    public async Task A_serving_configuration_changed_through_one_server_is_applied_on_the_other(Db db)
    {
        await using var servers = await TwoServers.StartAsync(db);
        var (first, second) = (servers.First, servers.Second);
        var model = await first.Client.CreateModelAsync();
        await first.Client.UploadAsync(model, TestArtifacts.Onnx(1), "model.onnx");
        await AnswerAsync(second, model);
        var host = second.Services.GetRequiredService<ModelHost>();
        Assert.Equal(1, host.Status(new ModelKey(model, 1))?.Instances);

        using (var changed = await first.Client.PutAsync($"api/v1/models/{model}/config", Api.Json("""{"instance_count": 2}""")))
        {
            Assert.True(changed.IsSuccessStatusCode, await changed.Content.ReadAsStringAsync());
        }

        await WaitUntilAsync(() => host.Status(new ModelKey(model, 1)) is { State: ModelState.Ready, Instances: 2 },
            $"the second server serving with 2 instances (now {host.Status(new ModelKey(model, 1))?.Instances})");
        await AnswerAsync(second, model);
    }

    private static async Task<string> AnswerAsync(MaasTestServer server, string model)
    {
        using var answer = await server.Client.PostAsync($"v2/models/{model}/versions/1/infer", Api.Json(Row));
        var body = await answer.Content.ReadAsStringAsync();
        Assert.True(answer.StatusCode == HttpStatusCode.OK, $"{(int)answer.StatusCode} {body}");
        return System.Text.Json.JsonDocument.Parse(body).RootElement.GetProperty("outputs")[0].GetProperty("data").GetRawText();
    }

    // Two servers on one database and one data folder, checking for deletions elsewhere every 100 ms.
    private sealed class TwoServers : IAsyncDisposable
    {
        private readonly TempDirectory _folder;
        private readonly TestDatabase _database;

        private TwoServers(TempDirectory folder, TestDatabase database, MaasTestServer first, MaasTestServer second) =>
            (_folder, _database, First, Second) = (folder, database, first, second);

        public MaasTestServer First { get; }

        public MaasTestServer Second { get; }

        public static async Task<TwoServers> StartAsync(Db db)
        {
            var folder = new TempDirectory("maas-deleted-elsewhere");
            var database = await TestDatabase.CreateAsync(db);
            var settings = new Dictionary<string, string?> { ["Maas:Hosting:DeletedModelCheckMs"] = "100" };
            var first = await MaasTestServer.StartAsync(database, settings, folder.Path);
            return new TwoServers(folder, database, first, await MaasTestServer.StartAsync(database, settings, folder.Path));
        }

        public async ValueTask DisposeAsync()
        {
            await Second.DisposeAsync();
            await First.DisposeAsync();
            await _database.DisposeAsync();
            _folder.Dispose();
        }
    }
}
