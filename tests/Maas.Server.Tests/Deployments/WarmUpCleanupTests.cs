using System.Net;
using Maas.Core.Hosting;
using Maas.Server.Tests.ModelHosting;
using Maas.Server.Tests.Support;
using Microsoft.Extensions.DependencyInjection;
using static Maas.Testing.Conditions;

namespace Maas.Server.Tests.Deployments;

/// <summary>A change whose warm-up fails part-way unloads the versions it loaded for itself, and only those.</summary>
public sealed class WarmUpCleanupTests(DeploymentServers servers) : IClassFixture<DeploymentServers>
{
    // A GGUF that passes the upload's checks but that llama.cpp cannot load (no llama hyperparameters or tensors).
    private static async Task<byte[]> UnloadableGgufAsync()
    {
        using var bytes = new MemoryStream();
        await new GeneratedGgufStream(64 * 1024).CopyToAsync(bytes);
        return bytes.ToArray();
    }

    [Fact]
    public async Task A_failed_warm_up_unloads_the_versions_it_loaded_and_keeps_those_that_were_serving()
    {
        var server = await servers.GetAsync(Db.Sqlite);
        var client = server.Client;
        var host = server.Services.GetRequiredService<ModelHost>();
        var model = await client.CreateModelAsync();
        await client.UploadAsync(model, TestArtifacts.Gguf(1), "one.gguf");
        await client.UploadAsync(model, TestArtifacts.Gguf(2), "two.gguf");
        await client.UploadAsync(model, TestArtifacts.Gguf(3), "three.gguf");
        await client.UploadAsync(model, await UnloadableGgufAsync(), "broken.gguf");
        ModelState? StateOf(int version) => host.Status(new ModelKey(model, version))?.State;

        // Version 1 serves the deployment; version 3 is loaded by a call that named it.
        await (await client.PostAsync("api/v1/deployments",
            Api.Json($$"""{"model": "{{model}}", "traffic": [{"version": 1, "percent": 100}]}"""))).JsonAsync(HttpStatusCode.Created);
        using (var named = await client.PostAsync("v1/chat/completions",
            Api.Json($$"""{"model": "{{model}}/versions/3", "max_tokens": 2, "messages": [{"role": "user", "content": "hi"}]}""")))
        {
            await named.JsonAsync(HttpStatusCode.OK);
        }

        Assert.Equal((ModelState.Ready, ModelState.Ready), (StateOf(1), StateOf(3)));
        Assert.NotEqual(ModelState.Ready, StateOf(2));

        // The change warms 2 (loaded for it), then 3 (already loaded), then fails on 4.
        var refused = await (await client.PatchAsync($"api/v1/deployments/{model}",
            Api.Json("""{"traffic": [{"version": 1, "percent": 40}, {"version": 2, "percent": 20}, {"version": 3, "percent": 20}, {"version": 4, "percent": 20}]}""")))
            .ErrorAsync(HttpStatusCode.Conflict, "warm_up_failed");
        Assert.Contains("version 4 did not load", (string?)refused["message"], StringComparison.Ordinal);

        // Version 2 used to stay loaded, holding its memory for a change that never happened.
        await WaitUntilAsync(() => Task.FromResult(StateOf(2) is not (ModelState.Ready or ModelState.Loading or ModelState.Unloading)), "version 2 is unloaded");
        Assert.Equal((ModelState.Ready, ModelState.Ready), (StateOf(1), StateOf(3)));
        var shown = await (await client.GetAsync($"api/v1/deployments/{model}")).JsonAsync(HttpStatusCode.OK);
        Assert.Equal("""[{"version":1,"percent":100}]""", shown["traffic"]!.ToJsonString());
    }
}
