using System.Net;
using System.Text.Json.Nodes;
using Maas.Core.Formats.Onnx;
using Maas.Server.Deployments;
using Maas.Server.TensorInference.Grpc.Protocol;
using Maas.Server.Tests.Support;
using Maas.Server.Tests.TensorInference;

namespace Maas.Server.Tests.Deployments;

/// <summary>
/// Reads that name a deployed model without a version (OIP v2 metadata and readiness, REST and gRPC, and
/// <c>/api/v1/resolve</c>) describe what its calls reach, not the registry's default version.
/// </summary>
public sealed class DeploymentMetadataTests(DeploymentGrpcServers servers) : IClassFixture<DeploymentGrpcServers>
{
    // Version 1 has 3 outputs per row, version 2 has 5: the metadata tells them apart.
    private static async Task<string> ModelAsync(HttpClient client)
    {
        var name = await client.CreateModelAsync();
        await client.UploadAsync(name, OnnxModelWriter.Mlp(4, [8], 3, seed: 1).ToBytes(), "model.onnx");
        await client.UploadAsync(name, OnnxModelWriter.Mlp(4, [8], 5, seed: 2).ToBytes(), "model.onnx");
        return name;
    }

    private static async Task<(long Outputs, string? Version)> MetadataAsync(HttpClient client, string path)
    {
        using var response = await client.GetAsync(path);
        var body = await response.JsonAsync(HttpStatusCode.OK);
        var shape = body["outputs"]!.AsArray().Single()!["shape"]!.AsArray();
        return ((long)shape[^1]!, response.Headers.TryGetValues(DeploymentRouter.VersionHeader, out var v) ? v.Single() : null);
    }

    private static async Task<bool> ReadyAsync(HttpClient client, string path)
    {
        using var response = await client.GetAsync(path);
        var text = await response.Content.ReadAsStringAsync();
        var ready = (bool?)JsonNode.Parse(text)!["ready"] ?? throw new Xunit.Sdk.XunitException($"{path}: {(int)response.StatusCode} {text}");
        Assert.Equal(ready ? HttpStatusCode.OK : HttpStatusCode.BadRequest, response.StatusCode);
        return ready;
    }

    private static async Task UnloadAndHoldAsync(HttpClient client, string model, int version) =>
        await (await client.PostAsync($"v2/repository/models/{model}/unload", Api.Json($$$"""{"parameters": {"version": "{{{version}}}"}}"""))).JsonAsync(HttpStatusCode.OK);

    [Fact]
    public async Task Metadata_readiness_and_resolve_without_a_version_follow_the_deployment()
    {
        var server = await servers.GetAsync(Db.Sqlite);
        var client = server.Client;
        using var grpc = new GrpcTestClient(server.GrpcAddress());
        var model = await ModelAsync(client);

        async Task<long> GrpcOutputsAsync()
        {
            var answer = await grpc.CallAsync("ModelMetadata", new ModelMetadataRequest { Name = model }, ModelMetadataResponse.Parser);
            Assert.True(answer.Status == 0, answer.Message);
            return answer.Single.Outputs.Single().Shape[^1];
        }

        async Task<bool> GrpcReadyAsync() =>
            (await grpc.CallAsync("ModelReady", new ModelReadyRequest { Name = model }, ModelReadyResponse.Parser)).Single.Ready;

        async Task<JsonNode> ResolveAsync(string reference) =>
            await (await client.GetAsync($"api/v1/resolve?ref={Uri.EscapeDataString(reference)}")).JsonAsync(HttpStatusCode.OK);

        // Without a deployment: the registry's default version (the newest ready one), as before.
        Assert.Equal((5L, "2"), await MetadataAsync(client, $"v2/models/{model}"));
        Assert.Equal(5L, await GrpcOutputsAsync());
        var plain = await ResolveAsync(model);
        Assert.Equal(2, (int)plain["version"]!["version"]!);
        Assert.Null(plain["deployment"]);

        // All traffic to version 1: metadata describes version 1 on both protocols; a version named still bypasses it.
        await (await client.PostAsync("api/v1/deployments",
            Api.Json($$"""{"model": "{{model}}", "traffic": [{"version": 1, "percent": 100}]}"""))).JsonAsync(HttpStatusCode.Created);
        Assert.Equal((3L, "1"), await MetadataAsync(client, $"v2/models/{model}"));
        Assert.Equal(3L, await GrpcOutputsAsync());
        Assert.Equal((5L, "2"), await MetadataAsync(client, $"v2/models/{model}/versions/2"));
        var deployed = await ResolveAsync(model);
        Assert.Equal(1, (int)deployed["version"]!["version"]!);
        Assert.Equal("[1]", deployed["deployment"]!["versions"]!.ToJsonString());
        Assert.Equal("""[{"version":1,"percent":100}]""", deployed["deployment"]!["traffic"]!.ToJsonString());
        Assert.Equal(2, (int)(await ResolveAsync($"{model}/versions/2"))["version"]!["version"]!);

        // Readiness is that of the versions calls reach: version 2, unloaded and held, takes none of them.
        await UnloadAndHoldAsync(client, model, 2);
        Assert.False(await ReadyAsync(client, $"v2/models/{model}/versions/2/ready"));
        Assert.True(await ReadyAsync(client, $"v2/models/{model}/ready"));
        Assert.True(await GrpcReadyAsync());

        // A split: the stable version stands for the model's metadata; ready only while every version it routes to is.
        await (await client.PatchAsync($"api/v1/deployments/{model}",
            Api.Json("""{"traffic": [{"version": 1, "percent": 90}, {"version": 2, "percent": 10}]}"""))).JsonAsync(HttpStatusCode.OK);
        Assert.Equal((3L, "1"), await MetadataAsync(client, $"v2/models/{model}"));
        Assert.Equal("[1,2]", (await ResolveAsync(model))["deployment"]!["versions"]!.ToJsonString());
        Assert.True(await ReadyAsync(client, $"v2/models/{model}/ready"));
        await UnloadAndHoldAsync(client, model, 2);
        Assert.True(await ReadyAsync(client, $"v2/models/{model}/versions/1/ready"));
        Assert.False(await ReadyAsync(client, $"v2/models/{model}/ready"));
        Assert.False(await GrpcReadyAsync());

        // Once the deployment is gone, the registry's default version is back.
        Assert.Equal(HttpStatusCode.NoContent, (await client.DeleteAsync($"api/v1/deployments/{model}")).StatusCode);
        Assert.Equal((5L, "2"), await MetadataAsync(client, $"v2/models/{model}"));
        Assert.False(await ReadyAsync(client, $"v2/models/{model}/ready"));
    }
}
