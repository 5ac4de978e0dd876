using System.Net;
using System.Text.Json.Nodes;
using Maas.Core.Tenancy;
using Maas.Server.Tests.Support;
using Maas.Testing;

namespace Maas.Server.Tests.Tenancy;

/// <summary>Suspending, resuming and deleting tenants over HTTP: each protocol's refusal, the key cache, what blocks a delete.</summary>
public sealed class TenantLifecycleTests(TenancyHostFixture fixture) : IClassFixture<TenancyHostFixture>
{
    private TenancyHost Host => fixture.Host;

    [Fact]
    public async Task A_disabled_tenants_key_is_refused_in_each_protocols_shape_until_it_is_enabled()
    {
        var tenant = await Host.CreateTenantAsync(limits: """{"requests_per_minute": 1000}""");
        var (_, secret) = await Host.CreateKeyAsync(tenant, [MaasScopes.Infer, MaasScopes.ModelsRead]);
        using var client = Host.Client(secret);
        // The key is cached before the tenant is disabled: the cache must not keep letting it in.
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("v1/models")).StatusCode);

        var disabled = await (await Host.Admin.PatchAsync($"api/v1/tenants/{tenant}", Api.Json("""{"disabled": true}"""))).JsonAsync(HttpStatusCode.OK);
        Assert.True((bool?)disabled["disabled"]);
        Assert.NotNull(disabled["disabled_at"]);
        Assert.Equal(1000, (long?)disabled["limits"]!["requests_per_minute"]); // "disabled" alone leaves the limits

        var openAi = await client.GetAsync("v1/models");
        var error = (await openAi.JsonAsync(HttpStatusCode.Forbidden))["error"]!;
        Assert.Equal("tenant_disabled", (string?)error["code"]);
        Assert.Equal("permission_error", (string?)error["type"]);
        Assert.Contains($"'{tenant}'", (string?)error["message"], StringComparison.Ordinal);
        Assert.Contains("disabled", (string?)error["message"], StringComparison.Ordinal);

        foreach (var route in new[] { "v2/models/anything", "api/tags" })
        {
            var plain = await (await client.GetAsync(route)).JsonAsync(HttpStatusCode.Forbidden);
            Assert.Contains("is disabled", plain["error"]!.GetValue<string>(), StringComparison.Ordinal); // {"error": "message"}
        }

        var management = await (await client.GetAsync("api/v1/me")).ErrorAsync(HttpStatusCode.Forbidden, "tenant_disabled");
        Assert.Contains("is disabled", (string?)management["message"], StringComparison.Ordinal);
        Assert.True((bool?)(await (await Host.Admin.GetAsync($"api/v1/tenants/{tenant}")).JsonAsync(HttpStatusCode.OK))["disabled"]);

        var enabled = await (await Host.Admin.PatchAsync($"api/v1/tenants/{tenant}", Api.Json("""{"disabled": false}"""))).JsonAsync(HttpStatusCode.OK);
        Assert.False((bool?)enabled["disabled"]);
        Assert.Null(enabled["disabled_at"]);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("v1/models")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("api/v1/me")).StatusCode);

        var audit = await (await Host.Admin.GetAsync("api/v1/audit?limit=1000&action=tenants.update")).JsonAsync(HttpStatusCode.OK);
        Assert.Contains(audit["entries"]!.AsArray(), e => (string?)e!["target"] == $"{tenant} (disabled)");
        Assert.Contains(audit["entries"]!.AsArray(), e => (string?)e!["target"] == $"{tenant} (enabled)");
    }

    [Fact]
    public async Task Limits_and_disabled_in_one_patch_are_checked_before_either_changes()
    {
        var tenant = await Host.CreateTenantAsync(limits: """{"requests_per_minute": 7}""");
        await (await Host.Admin.PatchAsync($"api/v1/tenants/{tenant}", Api.Json("""{"disabled": true, "limits": {"requests_per_minute": -1}}""")))
            .ErrorAsync(HttpStatusCode.BadRequest, "invalid_limits");
        var unchanged = await (await Host.Admin.GetAsync($"api/v1/tenants/{tenant}")).JsonAsync(HttpStatusCode.OK);
        Assert.False((bool?)unchanged["disabled"]);
        Assert.Equal(7, (long?)unchanged["limits"]!["requests_per_minute"]);

        var both = await (await Host.Admin.PatchAsync($"api/v1/tenants/{tenant}", Api.Json("""{"disabled": true, "limits": {"requests_per_minute": 9}}""")))
            .JsonAsync(HttpStatusCode.OK);
        Assert.True((bool?)both["disabled"]);
        Assert.Equal(9, (long?)both["limits"]!["requests_per_minute"]);

        // A body with neither is refused, and does not drop the limits.
        await (await Host.Admin.PatchAsync($"api/v1/tenants/{tenant}", Api.Json("{}"))).ErrorAsync(HttpStatusCode.BadRequest, "invalid_json");
        Assert.Equal(9, (long?)(await (await Host.Admin.GetAsync($"api/v1/tenants/{tenant}")).JsonAsync(HttpStatusCode.OK))["limits"]!["requests_per_minute"]);
    }

    [Fact]
    public async Task The_default_tenant_cannot_be_deleted_or_disabled_and_an_unknown_tenant_is_404()
    {
        var deleted = await (await Host.Admin.DeleteAsync($"api/v1/tenants/{Tenant.DefaultName}")).ErrorAsync(HttpStatusCode.Conflict, "default_tenant_protected");
        Assert.Contains("cannot be deleted", (string?)deleted["message"], StringComparison.Ordinal);
        await (await Host.Admin.PatchAsync($"api/v1/tenants/{Tenant.DefaultName}", Api.Json("""{"disabled": true}""")))
            .ErrorAsync(HttpStatusCode.Conflict, "default_tenant_protected");
        Assert.Equal(HttpStatusCode.OK, (await Host.Admin.GetAsync("api/v1/me")).StatusCode); // the admin key still works
        var enabled = await (await Host.Admin.PatchAsync($"api/v1/tenants/{Tenant.DefaultName}", Api.Json("""{"disabled": false}"""))).JsonAsync(HttpStatusCode.OK);
        Assert.False((bool?)enabled["disabled"]);

        await (await Host.Admin.DeleteAsync("api/v1/tenants/no-such-tenant")).ErrorAsync(HttpStatusCode.NotFound, "tenant_not_found");
        await (await Host.Admin.PatchAsync("api/v1/tenants/no-such-tenant", Api.Json("""{"disabled": true}"""))).ErrorAsync(HttpStatusCode.NotFound, "tenant_not_found");

        // Only admins: a tenant's own models:write key may not delete or suspend it.
        var (tenant, _, writer) = await Host.TenantWithKeyAsync(MaasScopes.ModelsWrite);
        using (writer)
        {
            Assert.Equal(HttpStatusCode.Forbidden, (await writer.DeleteAsync($"api/v1/tenants/{tenant}")).StatusCode);
            Assert.Equal(HttpStatusCode.Forbidden, (await writer.PatchAsync($"api/v1/tenants/{tenant}", Api.Json("""{"disabled": true}"""))).StatusCode);
        }
    }

    [Theory]
    [OnSqlite]
    [OnPostgres]
    public async Task Delete_is_refused_while_the_tenant_owns_a_model_and_revokes_its_keys_after(Db db)
    {
        await using var database = await TestDatabase.CreateAsync(db);
        await using var host = await TenancyHost.StartAsync(database: database);
        var tenant = await host.CreateTenantAsync();
        var (keyId, secret) = await host.CreateKeyAsync(tenant, [MaasScopes.ModelsWrite]);
        using var client = host.Client(secret);
        var model = await client.CreateModelAsync();

        var refused = await (await host.Admin.DeleteAsync($"api/v1/tenants/{tenant}")).ErrorAsync(HttpStatusCode.Conflict, "tenant_not_empty");
        Assert.Contains($"1 model ({model})", (string?)refused["message"], StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("api/v1/me")).StatusCode); // nothing changed

        Assert.Equal(HttpStatusCode.NoContent, (await client.DeleteAsync($"api/v1/models/{model}")).StatusCode);
        Assert.Equal(HttpStatusCode.NoContent, (await host.Admin.DeleteAsync($"api/v1/tenants/{tenant}")).StatusCode);

        await (await client.GetAsync("api/v1/me")).ErrorAsync(HttpStatusCode.Unauthorized, "api_key_revoked");
        await (await host.Admin.GetAsync($"api/v1/tenants/{tenant}")).ErrorAsync(HttpStatusCode.NotFound, "tenant_not_found");
        var listed = await (await host.Admin.GetAsync("api/v1/tenants")).JsonAsync(HttpStatusCode.OK);
        Assert.DoesNotContain(listed["tenants"]!.AsArray(), t => (string?)t!["name"] == tenant);
        await (await host.Admin.DeleteAsync($"api/v1/tenants/{tenant}")).ErrorAsync(HttpStatusCode.NotFound, "tenant_not_found");

        // Its keys stay listed as revoked, its usage and audit history stay, and its name is not handed out again.
        var keys = await (await host.Admin.GetAsync($"api/v1/keys?tenant={tenant}&include_revoked=true")).JsonAsync(HttpStatusCode.OK);
        var key = Assert.Single(keys["keys"]!.AsArray())!;
        Assert.Equal(keyId, (string?)key["id"]);
        Assert.Equal("revoked", (string?)key["status"]);
        Assert.True((await host.UsageTotalsAsync($"tenant={tenant}"))["requests"]!.GetValue<long>() >= 3);
        var audit = await (await host.Admin.GetAsync("api/v1/audit?limit=1000&action=tenants.delete")).JsonAsync(HttpStatusCode.OK);
        Assert.Contains(audit["entries"]!.AsArray(), e => (string?)e!["target"] == $"name={tenant}" && (long?)e["status"] == 204);
        Assert.Contains(audit["entries"]!.AsArray(), e => (string?)e!["target"] == $"name={tenant}" && (long?)e["status"] == 409);
        var again = await (await host.Admin.PostAsync("api/v1/tenants", Api.Json($$"""{"name": "{{tenant}}"}"""))).ErrorAsync(HttpStatusCode.Conflict, "tenant_exists");
        Assert.Contains("deleted tenant", (string?)again["message"], StringComparison.Ordinal);
        await (await host.Admin.PostAsync("api/v1/keys", Api.Json($$"""{"name": "k", "tenant": "{{tenant}}", "scopes": ["infer"]}""")))
            .ErrorAsync(HttpStatusCode.NotFound, "tenant_not_found");
        await (await host.Admin.PostAsync("api/v1/models", Api.Json($$"""{"name": "late", "owner": "{{tenant}}"}""")))
            .ErrorAsync(HttpStatusCode.NotFound, "tenant_not_found");
    }

    [Theory]
    [OnSqlite]
    [OnPostgres]
    public async Task No_key_is_created_for_a_disabled_tenant_until_it_is_enabled_nor_for_a_deleted_one(Db db)
    {
        await using var database = await TestDatabase.CreateAsync(db);
        await using var host = await TenancyHost.StartAsync(database: database);
        var tenant = await host.CreateTenantAsync();
        var body = $$"""{"name": "late", "tenant": "{{tenant}}", "scopes": ["infer"]}""";
        Assert.Equal(HttpStatusCode.OK, (await host.Admin.PatchAsync($"api/v1/tenants/{tenant}", Api.Json("""{"disabled": true}"""))).StatusCode);

        var refused = await (await host.Admin.PostAsync("api/v1/keys", Api.Json(body))).ErrorAsync(HttpStatusCode.Conflict, "tenant_disabled");
        Assert.Contains($"tenant '{tenant}' is disabled", (string?)refused["message"], StringComparison.Ordinal);
        Assert.Contains("enable it first", (string?)refused["message"], StringComparison.Ordinal);
        var keys = await (await host.Admin.GetAsync($"api/v1/keys?tenant={tenant}&include_revoked=true")).JsonAsync(HttpStatusCode.OK);
        Assert.Empty(keys["keys"]!.AsArray()); // nothing was stored

        Assert.Equal(HttpStatusCode.OK, (await host.Admin.PatchAsync($"api/v1/tenants/{tenant}", Api.Json("""{"disabled": false}"""))).StatusCode);
        var created = await (await host.Admin.PostAsync("api/v1/keys", Api.Json(body))).JsonAsync(HttpStatusCode.Created);
        using (var client = host.Client((string)created["key"]!))
        {
            Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("api/v1/me")).StatusCode);
        }

        // Disabled, then deleted: the deleted tenant is not found (not "disabled"), as before.
        Assert.Equal(HttpStatusCode.OK, (await host.Admin.PatchAsync($"api/v1/tenants/{tenant}", Api.Json("""{"disabled": true}"""))).StatusCode);
        Assert.Equal(HttpStatusCode.NoContent, (await host.Admin.DeleteAsync($"api/v1/tenants/{tenant}")).StatusCode);
        await (await host.Admin.PostAsync("api/v1/keys", Api.Json(body))).ErrorAsync(HttpStatusCode.NotFound, "tenant_not_found");
    }

    [Fact]
    public async Task Delete_names_datasets_and_counts_beyond_the_names_it_shows()
    {
        var (tenant, _, client) = await Host.TenantWithKeyAsync(MaasScopes.ModelsWrite, MaasScopes.DatasetsWrite);
        using (client)
        {
            var models = new List<string>();
            for (var i = 0; i < TenantHoldings.NamesShown + 1; i++)
            {
                models.Add(await client.CreateModelAsync());
            }

            var dataset = "ds-" + Guid.NewGuid().ToString("n")[..8];
            await (await client.PostAsync("api/v1/datasets", Api.Json($$"""{"name": "{{dataset}}"}"""))).JsonAsync(HttpStatusCode.Created);
            var message = (string?)(await (await Host.Admin.DeleteAsync($"api/v1/tenants/{tenant}")).ErrorAsync(HttpStatusCode.Conflict, "tenant_not_empty"))["message"];
            Assert.Contains($"{models.Count} models (", message, StringComparison.Ordinal);
            Assert.Contains(", ...)", message, StringComparison.Ordinal);
            Assert.Contains($"1 dataset ({dataset})", message, StringComparison.Ordinal);
        }
    }
}
