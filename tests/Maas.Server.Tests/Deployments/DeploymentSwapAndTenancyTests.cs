using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Maas.Core.Hosting;
using Maas.Core.Tenancy;
using Maas.Server.Deployments;
using Maas.Server.Tests.Support;
using Maas.Server.Tests.Tenancy;
using Microsoft.Extensions.DependencyInjection;
using static Maas.Testing.Conditions;

namespace Maas.Server.Tests.Deployments;

/// <summary>Hot swap under load, scopes and tenants, and two servers sharing one database.</summary>
public sealed class DeploymentSwapAndTenancyTests(DeploymentServers servers) : IClassFixture<DeploymentServers>
{
    private const string Input = """{"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": [0.5, -1.25, 2.0, 0.75]}]}""";

    private static async Task<(HttpStatusCode Status, string? Version)> InferAsync(HttpClient client, string model, List<string>? failures = null)
    {
        using var response = await client.PostAsync($"v2/models/{model}/infer", Api.Json(Input));
        if (failures is not null && response.StatusCode != HttpStatusCode.OK)
        {
            var text = await response.Content.ReadAsStringAsync();
            lock (failures)
            {
                failures.Add($"{(int)response.StatusCode}: {text}");
            }
        }

        return (response.StatusCode, response.Headers.TryGetValues("X-Maas-Model-Version", out var v) ? v.Single() : null);
    }

    private static async Task<string> ModelAsync(HttpClient client)
    {
        var model = await client.CreateModelAsync();
        await client.UploadAsync(model, TestArtifacts.Onnx(1), "model.onnx");
        await client.UploadAsync(model, TestArtifacts.Onnx(2), "model.onnx");
        return model;
    }

    [Theory]
    [OnSqlite]
    public async Task A_hot_swap_under_32_concurrent_clients_fails_no_request_and_unloads_the_old_version(Db db)
    {
        var server = await servers.GetAsync(db);
        var client = server.Client;
        var model = await ModelAsync(client);
        await (await client.PostAsync("api/v1/deployments",
            Api.Json($$"""{"model": "{{model}}", "traffic": [{"version": 1, "percent": 100}]}"""))).JsonAsync(HttpStatusCode.Created);
        var host = server.Services.GetRequiredService<ModelHost>();
        ModelState? StateOf(int version) => host.Models().FirstOrDefault(m => m.Key == new ModelKey(model, version))?.State;

        long total = 0, failed = 0, afterSwap = 0;
        var swapped = 0;
        var perClientNew = new int[32];
        var failures = new List<string>();
        using var stop = new CancellationTokenSource();
        var clients = Enumerable.Range(0, 32).Select(i => Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                var (status, version) = await InferAsync(client, model, failures);
                Interlocked.Increment(ref total);
                if (status != HttpStatusCode.OK)
                {
                    Interlocked.Increment(ref failed);
                }
                else if (version == "2")
                {
                    Interlocked.Increment(ref perClientNew[i]);
                }

                if (Volatile.Read(ref swapped) == 1)
                {
                    Interlocked.Increment(ref afterSwap);
                }
            }
        })).ToArray();

        await WaitUntilAsync(() => Task.FromResult(Interlocked.Read(ref total) >= 32 * 8), "every client is running");
        Assert.NotEqual(ModelState.Ready, StateOf(2));
        var swap = await (await client.PatchAsync($"api/v1/deployments/{model}", Api.Json("""{"traffic": [{"version": 2, "percent": 100}]}"""))).JsonAsync(HttpStatusCode.OK);
        Volatile.Write(ref swapped, 1);
        Assert.Equal("""[{"version":2,"percent":100}]""", swap["traffic"]!.ToJsonString());
        await WaitUntilAsync(() => Task.FromResult(perClientNew.All(n => Volatile.Read(ref n) >= 3)), "every client got answers from the new version");
        await stop.CancelAsync();
        await Task.WhenAll(clients);

        Assert.True(Interlocked.Read(ref failed) == 0, $"{failed} of {total} requests failed: {string.Join("; ", failures.Take(3))}");
        Assert.True(Interlocked.Read(ref afterSwap) > 0, "no request ran after the swap was answered");

        // The old version unloads once it has no traffic left.
        await WaitUntilAsync(() => Task.FromResult(StateOf(1) is not ModelState.Ready and not ModelState.Loading), "version 1 is unloaded");
        Assert.Equal(ModelState.Ready, StateOf(2));
    }

    [Fact]
    public async Task Deployment_routes_check_scopes_and_keep_tenants_apart()
    {
        var server = await servers.GetAsync(Db.Sqlite);
        var admin = server.Client;
        var tenant = await server.NewTenantAsync();
        var other = await server.NewTenantAsync();
        async Task<HttpClient> KeyAsync(string t, params string[] scopes) => server.CreateClient(await server.NewKeyAsync(t, scopes));

        var writer = await KeyAsync(tenant, MaasScopes.ModelsWrite, MaasScopes.Infer);
        var reader = await KeyAsync(tenant, MaasScopes.ModelsRead);
        var caller = await KeyAsync(tenant, MaasScopes.Infer);
        var stranger = await KeyAsync(other, MaasScopes.ModelsWrite, MaasScopes.Infer);

        var model = await ModelAsync(writer);
        var created = await (await writer.PostAsync("api/v1/deployments",
            Api.Json($$"""{"model": "{{model}}", "traffic": [{"version": 1, "percent": 100}]}"""))).JsonAsync(HttpStatusCode.Created);
        Assert.Equal(tenant, (string?)created["tenant"]);
        Assert.Equal(model, (string?)created["model"]);

        // Read scope reads, but may not act; an infer-only key may not even read; calls follow the deployment.
        await (await reader.GetAsync($"api/v1/deployments/{model}")).JsonAsync(HttpStatusCode.OK);
        await (await reader.PostAsync($"api/v1/deployments/{model}:pause", null)).ErrorAsync(HttpStatusCode.Forbidden, "insufficient_scope");
        await (await reader.PostAsync("api/v1/deployments",
            Api.Json($$"""{"model": "{{model}}", "traffic": [{"version": 2, "percent": 100}]}"""))).ErrorAsync(HttpStatusCode.Forbidden, "insufficient_scope");
        await (await caller.GetAsync("api/v1/deployments")).ErrorAsync(HttpStatusCode.Forbidden, "insufficient_scope");
        Assert.Equal((HttpStatusCode.OK, "1"), await InferAsync(caller, model));

        // Another tenant sees nothing of it: not in its list, 404 by name, 404 for its model, and it cannot change it.
        var listed = (await (await stranger.GetAsync("api/v1/deployments")).JsonAsync(HttpStatusCode.OK))["deployments"]!.AsArray();
        Assert.DoesNotContain(listed, d => (string?)d!["tenant"] == tenant);
        await (await stranger.GetAsync($"api/v1/deployments/{model}")).ErrorAsync(HttpStatusCode.NotFound, "deployment_not_found");
        await (await stranger.GetAsync($"api/v1/deployments/{tenant}%2F{model}")).ErrorAsync(HttpStatusCode.NotFound, "deployment_not_found");
        await (await stranger.PostAsync($"api/v1/deployments/{tenant}%2F{model}:abort", null)).ErrorAsync(HttpStatusCode.NotFound, "deployment_not_found");
        await (await stranger.PostAsync("api/v1/deployments",
            Api.Json($$"""{"model": "{{tenant}}/{{model}}", "traffic": [{"version": 1, "percent": 100}]}"""))).ErrorAsync(HttpStatusCode.NotFound, "model_not_found");

        // An admin names it with its tenant.
        var seen = await (await admin.GetAsync($"api/v1/deployments/{tenant}%2F{model}")).JsonAsync(HttpStatusCode.OK);
        Assert.Equal($"{tenant}/{model}", (string?)seen["model"]);
    }

    [Fact]
    public async Task Resolving_a_shared_deployed_model_tells_another_tenant_its_versions_but_nothing_of_the_owner_s_deployment()
    {
        var server = await servers.GetAsync(Db.Sqlite);
        var admin = server.Client;
        var owner = await server.NewTenantAsync();
        var other = await server.NewTenantAsync();
        async Task<HttpClient> KeyAsync(string t) => server.CreateClient(await server.NewKeyAsync(t, [MaasScopes.ModelsWrite, MaasScopes.Infer]));

        var writer = await KeyAsync(owner);
        var stranger = await KeyAsync(other);
        var model = await writer.CreateModelAsync(extra: """, "visibility": "shared" """);
        await writer.UploadAsync(model, TestArtifacts.Onnx(1), "model.onnx");
        await writer.UploadAsync(model, TestArtifacts.Onnx(2), "model.onnx");
        var name = "secret-" + Guid.NewGuid().ToString("n")[..8];
        await (await writer.PostAsync("api/v1/deployments", Api.Json(
            $$"""{"model": "{{model}}", "name": "{{name}}", "traffic": [{"version": 1, "percent": 90}, {"version": 2, "percent": 10}]}"""))).JsonAsync(HttpStatusCode.Created);

        async Task<JsonNode> ResolveAsync(HttpClient client, string reference) =>
            await (await client.GetAsync($"api/v1/resolve?ref={Uri.EscapeDataString(reference)}")).JsonAsync(HttpStatusCode.OK);

        // The owner sees its deployment; an admin too, named with its tenant.
        var own = (await ResolveAsync(writer, model))["deployment"]!;
        Assert.Equal(name, (string?)own["name"]);
        Assert.Equal("[1,2]", own["versions"]!.ToJsonString());
        Assert.Equal(1, (int)own["stable"]!);
        Assert.Equal($"/api/v1/deployments/{name}", (string?)own["url"]);
        Assert.Equal($"{owner}/{name}", (string?)(await ResolveAsync(admin, $"{owner}/{model}"))["deployment"]!["name"]);

        // Another tenant calling the shared model resolves it to the version its calls reach and the versions they may
        // reach, never the deployment's name (it used to get "owner/name"), shares, stable version or URL.
        var shared = await ResolveAsync(stranger, $"{owner}/{model}");
        Assert.Equal(1, (int)shared["version"]!["version"]!);
        var seen = shared["deployment"]!.AsObject();
        Assert.Equal(["versions"], seen.Select(p => p.Key));
        Assert.Equal("[1,2]", seen["versions"]!.ToJsonString());
        Assert.DoesNotContain(name, shared.ToJsonString(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.OK, (await InferAsync(stranger, $"{owner}%2F{model}")).Status); // and may call it
    }

    [Theory]
    [OnSqlite]
    [OnPostgres]
    public async Task A_second_server_on_the_same_database_follows_each_change(Db db)
    {
        using var folder = new TempDirectory("maas-deploy-two");
        await using var database = await TestDatabase.CreateAsync(db);
        await using var first = await MaasTestServer.StartAsync(database, DeploymentServers.Fast, folder.Path);
        await using var second = await MaasTestServer.StartAsync(database, DeploymentServers.Fast, folder.Path);
        var model = await ModelAsync(first.Client);
        await (await first.Client.PostAsync("api/v1/deployments",
            Api.Json($$"""{"model": "{{model}}", "traffic": [{"version": 1, "percent": 100}]}"""))).JsonAsync(HttpStatusCode.Created);
        await WaitUntilAsync(async () => (await InferAsync(second.Client, model)).Version == "1", "the second server routes by the new deployment");

        // One poll of the change counter after the change is committed is all the second server needs: the next call
        // there follows the new split. The poll runs every Maas:Deployments:RefreshMs, 250 ms by default, so a change
        // reaches every server within a second (the deployment-sync benchmark measures it).
        await (await first.Client.PatchAsync($"api/v1/deployments/{model}", Api.Json("""{"traffic": [{"version": 2, "percent": 100}]}"""))).JsonAsync(HttpStatusCode.OK);
        await second.Services.GetRequiredService<DeploymentRouter>().RefreshAsync(force: false, CancellationToken.None);
        Assert.Equal((HttpStatusCode.OK, "2"), await InferAsync(second.Client, model));
        Assert.True(new DeploymentOptions().RefreshMs <= 1000, "the default poll must see another server's change within a second");

        // And back: a change made on the second server reaches the first by its own polling.
        await (await second.Client.PatchAsync($"api/v1/deployments/{model}", Api.Json("""{"traffic": [{"version": 1, "percent": 100}]}"""))).JsonAsync(HttpStatusCode.OK);
        await WaitUntilAsync(async () => (await InferAsync(first.Client, model)).Version == "1", "the first server follows the second's change");
    }

    [Fact]
    public async Task OpenAi_calls_of_a_language_model_follow_its_deployment_and_name_the_version()
    {
        var client = (await servers.GetAsync(Db.Sqlite)).Client;
        var model = await client.CreateModelAsync();
        await client.UploadAsync(model, TestArtifacts.Gguf(1), "a.gguf");
        await client.UploadAsync(model, TestArtifacts.Gguf(2), "b.gguf");
        await (await client.PostAsync("api/v1/deployments",
            Api.Json($$"""{"model": "{{model}}", "traffic": [{"version": 1, "percent": 100}]}"""))).JsonAsync(HttpStatusCode.Created);

        async Task<string?> VersionOfAsync(string path, string body)
        {
            using var response = await client.PostAsync(path, Api.Json(body));
            await response.JsonAsync(HttpStatusCode.OK);
            return response.Headers.GetValues("X-Maas-Model-Version").Single();
        }

        Assert.Equal("1", await VersionOfAsync("v1/embeddings", $$"""{"model": "{{model}}", "input": "hello"}"""));
        Assert.Equal("1", await VersionOfAsync("v1/chat/completions", $$"""{"model": "{{model}}", "max_tokens": 2, "messages": [{"role": "user", "content": "hi"}]}"""));
        Assert.Equal("1", await VersionOfAsync("v1/completions", $$"""{"model": "{{model}}", "max_tokens": 2, "prompt": "hi"}"""));
        // Naming a version bypasses the deployment.
        Assert.Equal("2", await VersionOfAsync("v1/embeddings", $$"""{"model": "{{model}}/versions/2", "input": "hello"}"""));
    }
}
