using System.Net;
using System.Text.Json.Nodes;
using Maas.Core.Tenancy;
using Maas.Server.Tests.Support;

namespace Maas.Server.Tests.Tenancy;

/// <summary>Tenant A x tenant B over the registry and the serving APIs: private models are invisible, shared ones read-only.</summary>
public sealed class ModelTenancyTests(TenancyHostFixture fixture) : IClassFixture<TenancyHostFixture>
{
    private TenancyHost Host => fixture.Host;

    [Fact]
    public async Task Another_tenants_private_model_does_not_exist_for_me_and_a_shared_one_is_read_only()
    {
        var (tenantA, _, a) = await Host.TenantWithKeyAsync(MaasScopes.ModelsWrite, MaasScopes.Infer);
        var (_, _, b) = await Host.TenantWithKeyAsync(MaasScopes.ModelsWrite, MaasScopes.Infer);
        var suffix = Guid.NewGuid().ToString("n")[..8];
        var secret = "a-private-" + suffix;
        var shared = "a-shared-" + suffix;
        await a.CreateModelAsync(secret);
        await a.CreateModelAsync(shared, """, "visibility": "shared" """);
        foreach (var name in new[] { secret, shared })
        {
            await a.UploadAsync(name, TestArtifacts.Onnx(), "model.onnx");
        }

        var owned = await (await a.GetAsync($"api/v1/models/{secret}")).JsonAsync(HttpStatusCode.OK);
        Assert.Equal(tenantA, (string?)owned["owner"]);

        // B: the private model answers exactly like a missing one, on every route.
        await (await b.GetAsync($"api/v1/models/{secret}")).ErrorAsync(HttpStatusCode.NotFound, "model_not_found");
        await (await b.GetAsync($"api/v1/models/{secret}/versions/1")).ErrorAsync(HttpStatusCode.NotFound, "model_not_found");
        await (await b.DeleteAsync($"api/v1/models/{secret}")).ErrorAsync(HttpStatusCode.NotFound, "model_not_found");
        await (await b.GetAsync($"api/v1/resolve?ref={secret}")).ErrorAsync(HttpStatusCode.NotFound, "model_not_found");
        Assert.Equal(HttpStatusCode.NotFound, (await b.PostAsync($"v2/models/{secret}/infer", Api.Json(Infer()))).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await b.GetAsync($"v2/models/{secret}")).StatusCode);
        var listing = await (await b.GetAsync("api/v1/models?limit=1000")).JsonAsync(HttpStatusCode.OK);
        var names = listing["models"]!.AsArray().Select(m => (string?)m!["name"]).ToArray();
        Assert.DoesNotContain(secret, names);
        Assert.Contains(shared, names);

        // B may read and call the shared model, not change it.
        Assert.Equal(HttpStatusCode.OK, (await b.GetAsync($"api/v1/models/{shared}")).StatusCode);
        var inferred = await (await b.PostAsync($"v2/models/{shared}/infer", Api.Json(Infer()))).JsonAsync(HttpStatusCode.OK);
        Assert.Equal("output", (string?)inferred["outputs"]![0]!["name"]);
        await (await b.DeleteAsync($"api/v1/models/{shared}")).ErrorAsync(HttpStatusCode.Forbidden, "model_read_only");
        await (await b.PutAsync($"api/v1/models/{shared}/aliases/production", Api.Json("""{"version": 1}"""))).ErrorAsync(HttpStatusCode.Forbidden, "model_read_only");

        // A (the owner) and the admin see both.
        Assert.Equal(HttpStatusCode.OK, (await a.PostAsync($"v2/models/{secret}/infer", Api.Json(Infer()))).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await Host.Admin.GetAsync($"api/v1/models/{secret}")).StatusCode);

        // A key limited to some models sees only those.
        var (_, onlyShared) = await Host.CreateKeyAsync(tenantA, [MaasScopes.Infer, MaasScopes.ModelsRead], ["a-shared-*"]);
        using var narrow = Host.Client(onlyShared);
        await (await narrow.GetAsync($"api/v1/models/{secret}")).ErrorAsync(HttpStatusCode.NotFound, "model_not_found");
        Assert.Equal(HttpStatusCode.OK, (await narrow.PostAsync($"v2/models/{shared}/infer", Api.Json(Infer()))).StatusCode);
        // Its list pages and counts only what it sees: the private model sorts first and is neither counted nor a gap.
        var narrowPage = await (await narrow.GetAsync($"api/v1/models?q={suffix}&limit=1")).JsonAsync(HttpStatusCode.OK);
        Assert.Equal([shared], narrowPage["models"]!.AsArray().Select(m => (string?)m!["name"]));
        Assert.Equal(1, (int?)narrowPage["total"]);

        // A model is created in the caller's tenant; only an admin may name another owner.
        await (await b.PostAsync("api/v1/models", Api.Json($$"""{"name": "b-for-a-{{suffix}}", "owner": "{{tenantA}}"}""")))
            .ErrorAsync(HttpStatusCode.Forbidden, "insufficient_scope");
    }

    [Fact]
    public async Task An_admin_cannot_create_a_model_or_dataset_for_a_tenant_that_does_not_exist()
    {
        // Such a model or dataset would belong to nobody: no key can be made for that tenant to reach it.
        var ghost = Names.Unique("ghost");
        var name = Names.Unique("orphan");
        await (await Host.Admin.PostAsync("api/v1/models", Api.Json($$"""{"name": "{{name}}", "owner": "{{ghost}}"}""")))
            .ErrorAsync(HttpStatusCode.NotFound, "tenant_not_found");
        await (await Host.Admin.PostAsync("api/v1/datasets", Api.Json($$"""{"name": "{{name}}", "owner": "{{ghost}}"}""")))
            .ErrorAsync(HttpStatusCode.NotFound, "tenant_not_found");
        await (await Host.Admin.GetAsync($"api/v1/models/{ghost}%2F{name}")).ErrorAsync(HttpStatusCode.NotFound, "model_not_found");

        // An existing tenant still works.
        var tenant = await Host.CreateTenantAsync();
        var model = await (await Host.Admin.PostAsync("api/v1/models", Api.Json($$"""{"name": "{{name}}", "owner": "{{tenant}}"}"""))).JsonAsync(HttpStatusCode.Created);
        Assert.Equal(tenant, (string?)model["owner"]);
        var dataset = await (await Host.Admin.PostAsync("api/v1/datasets", Api.Json($$"""{"name": "{{name}}", "owner": "{{tenant}}"}"""))).JsonAsync(HttpStatusCode.Created);
        Assert.Equal(tenant, (string?)dataset["owner"]);
    }

    [Fact]
    public async Task Inference_calls_are_metered_per_model()
    {
        var (tenant, keyId, client) = await Host.TenantWithKeyAsync(MaasScopes.ModelsWrite, MaasScopes.Infer);
        var name = "metered-" + Guid.NewGuid().ToString("n")[..8];
        await client.CreateModelAsync(name);
        await client.UploadAsync(name, TestArtifacts.Onnx(), "model.onnx");
        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(HttpStatusCode.OK, (await client.PostAsync($"v2/models/{name}/infer", Api.Json(Infer()))).StatusCode);
        }

        var usage = await (await Host.Admin.GetAsync($"api/v1/usage?key={keyId}&model={name}")).JsonAsync(HttpStatusCode.OK);
        var row = Assert.Single(usage["rows"]!.AsArray(), r => (string?)r!["model"] == name);
        Assert.True((long?)row!["requests"] >= 3, row.ToJsonString());
        Assert.Equal(tenant, (string?)row["tenant"]);
        Assert.True((double?)row["compute_ms"] > 0);
    }

    private static string Infer() => new JsonObject
    {
        ["inputs"] = new JsonArray(new JsonObject
        {
            ["name"] = "input",
            ["datatype"] = "FP32",
            ["shape"] = new JsonArray(1, 4),
            ["data"] = new JsonArray(1.0, 2.0, 3.0, 4.0),
        }),
    }.ToJsonString();
}
