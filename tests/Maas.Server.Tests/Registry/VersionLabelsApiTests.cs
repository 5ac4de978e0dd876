using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Maas.Core.Formats.Onnx;
using Maas.Core.Registry;
using Maas.Server.Tests.Support;
using Maas.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace Maas.Server.Tests.Registry;

/// <summary>
/// A version's view names each output's class labels (output_labels) as serving resolves them: the model's serving
/// configuration over the version's maas.* metadata over the classifier nodes of its file.
/// </summary>
public sealed class VersionLabelsApiTests(ServerPerDb servers) : IClassFixture<ServerPerDb>
{
    [Theory]
    [OnSqlite]
    [OnPostgres]
    public async Task A_classifiers_view_names_its_labels_from_the_file_then_the_metadata_then_the_serving_config(Db db)
    {
        var server = await servers.GetAsync(db);
        var client = server.Client;
        var registry = server.Services.GetRequiredService<IModelRegistry>();
        var name = await client.CreateModelAsync(Names.Unique("labels"));

        // The file's classifier labels, in the upload's answer and in the view; the BYTES label output has none.
        var uploaded = await client.UploadAsync(name, OnnxModelWriter.LinearClassifier(stringLabels: ["cat", "dog", "fox"]).ToBytes(), "classifier.onnx");
        Assert.Equal("""{"scores":["cat","dog","fox"]}""", uploaded["output_labels"]?.ToJsonString());
        var version = (int)uploaded["version"]!;
        Assert.Equal("""{"scores":["cat","dog","fox"]}""", (await ViewAsync(client, name, version))["output_labels"]?.ToJsonString());

        // The version's metadata wins over its file; an output the version does not have is not shown.
        await registry.SetVersionMetadataAsync(name, version, "maas.image",
            """{"input":"input","shape":[3],"logits_output":"scores","probabilities_output":"probs","classes":["a","b","c"]}""", CancellationToken.None);
        Assert.Equal("""{"scores":["a","b","c"]}""", Canonical((await ViewAsync(client, name, version))["output_labels"]));

        // The serving configuration wins over both, for the outputs it names; the list and resolve views say the same.
        await PutConfigAsync(client, name, """{"labels": {"scores": ["x", "y", "z"]}}""");
        const string configured = """{"scores":["x","y","z"]}""";
        Assert.Equal(configured, Canonical((await ViewAsync(client, name, version))["output_labels"]));
        var list = await (await client.GetAsync($"api/v1/models/{name}/versions")).JsonAsync(HttpStatusCode.OK);
        Assert.Equal(configured, Canonical(list["versions"]!.AsArray().Single()!["output_labels"]));
        var resolved = await (await client.GetAsync($"api/v1/resolve?ref={name}")).JsonAsync(HttpStatusCode.OK);
        Assert.Equal(configured, Canonical(resolved["version"]!["output_labels"]));

        // Labels of another number than the output's 3 classes are not what serving uses: not shown.
        await PutConfigAsync(client, name, """{"labels": {"scores": ["x", "y"]}}""");
        Assert.False((await ViewAsync(client, name, version)).AsObject().ContainsKey("output_labels"));

        // Without the configuration's labels, the metadata's apply again; the file's own stay in its signature.
        await PutConfigAsync(client, name, "{}");
        var view = await ViewAsync(client, name, version);
        Assert.Equal("""{"scores":["a","b","c"]}""", Canonical(view["output_labels"]));
        Assert.Equal("""{"scores":["cat","dog","fox"]}""", view["signature"]!["class_labels"]?.ToJsonString());
    }

    [Theory]
    [OnSqlite]
    public async Task A_table_classifier_is_named_by_its_metadata_and_a_version_without_labels_has_none(Db db)
    {
        var server = await servers.GetAsync(db);
        var client = server.Client;
        var registry = server.Services.GetRequiredService<IModelRegistry>();
        var name = await client.CreateModelAsync(Names.Unique("labels-table"));
        var uploaded = await client.UploadAsync(name, TestArtifacts.Onnx(seed: 5), "mlp.onnx");
        Assert.False(uploaded.AsObject().ContainsKey("output_labels"), uploaded.ToJsonString());
        var version = (int)uploaded["version"]!;
        Assert.False((await ViewAsync(client, name, version)).AsObject().ContainsKey("output_labels"));

        await registry.SetVersionMetadataAsync(name, version, "maas.tabular",
            """{"task":"multiclass-classification","features":[{"name":"input","type":"number"}],"classes":["lo","mid","hi"],"score_output":"output"}""", CancellationToken.None);
        Assert.Equal("""{"output":["lo","mid","hi"]}""", (await ViewAsync(client, name, version))["output_labels"]?.ToJsonString());

        // Metadata that is not what a training job writes names nothing, and the view still answers.
        await registry.SetVersionMetadataAsync(name, version, "maas.tabular", """{"classes":[1,2,3],"score_output":"output"}""", CancellationToken.None);
        Assert.False((await ViewAsync(client, name, version)).AsObject().ContainsKey("output_labels"));
    }

    private static async Task<JsonNode> ViewAsync(HttpClient client, string model, int version)
    {
        using var response = await client.GetAsync($"api/v1/models/{model}/versions/{version}");
        return await response.JsonAsync(HttpStatusCode.OK);
    }

    private static async Task PutConfigAsync(HttpClient client, string model, string config)
    {
        using var response = await client.PutAsync($"api/v1/models/{model}/config", new StringContent(config, Encoding.UTF8, "application/json"));
        Assert.True(response.IsSuccessStatusCode, $"{(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
    }

    // Outputs in name order: the view's map follows no order of its own.
    private static string? Canonical(JsonNode? labels) =>
        labels is JsonObject map ? new JsonObject(map.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => KeyValuePair.Create(p.Key, p.Value?.DeepClone()))).ToJsonString()
        : labels?.ToJsonString();
}
