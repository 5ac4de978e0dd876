using System.Net;
using System.Text.Json.Nodes;
using Maas.Core.Tenancy;
using Maas.Server.Tests.Support;

namespace Maas.Server.Tests.Tenancy;

public sealed class AuditTests(TenancyHostFixture fixture) : IClassFixture<TenancyHostFixture>
{
    private TenancyHost Host => fixture.Host;

    [Fact]
    public async Task Each_management_action_leaves_one_entry_with_who_what_when_where_and_result()
    {
        var me = await (await Host.Admin.GetAsync("api/v1/me")).JsonAsync(HttpStatusCode.OK);
        var adminId = (string)me["key_id"]!;
        var started = DateTimeOffset.UtcNow.AddSeconds(-1);

        var tenant = await Host.CreateTenantAsync();
        await (await Host.Admin.PatchAsync($"api/v1/tenants/{tenant}", Api.Json("""{"limits": {"requests_per_minute": 10}}"""))).JsonAsync(HttpStatusCode.OK);
        var (keyId, _) = await Host.CreateKeyAsync(tenant, [MaasScopes.Infer]);
        Assert.Equal(HttpStatusCode.NoContent, (await Host.Admin.DeleteAsync($"api/v1/keys/{keyId}")).StatusCode);
        await (await Host.Admin.PostAsync("api/v1/tenants", Api.Json($$"""{"name": "{{tenant}}"}"""))).ErrorAsync(HttpStatusCode.Conflict, "tenant_exists");

        var entries = await EntriesAsync($"actor={adminId}&from={Uri.EscapeDataString(started.ToString("O"))}");
        Entry(entries, "tenants.create", tenant, 201, "success");
        Entry(entries, "tenants.update", $"name={tenant}", 200, "success");
        Entry(entries, "keys.create", keyId, 201, "success");
        Entry(entries, "keys.revoke", $"id={keyId}", 204, "success");
        Assert.Contains(entries, e => (string?)e["action"] == "tenants.create" && (int?)e["status"] == 409 && (string?)e["result"] == "rejected");
        Assert.All(entries, e =>
        {
            Assert.Equal(adminId, (string?)e["actor"]);
            Assert.Equal(Tenant.DefaultName, (string?)e["actor_tenant"]);
            Assert.Equal("127.0.0.1", (string?)e["client"]);
            Assert.False(string.IsNullOrEmpty((string?)e["request_id"]));
        });

        // Reads are not actions; they leave no entry.
        await Host.Admin.GetAsync("api/v1/keys");
        Assert.Equal(entries.Count, (await EntriesAsync($"actor={adminId}&from={Uri.EscapeDataString(started.ToString("O"))}")).Count);
    }

    [Fact]
    public async Task A_denied_attempt_is_audited_and_only_admins_read_the_log()
    {
        var (_, keyId, client) = await Host.TenantWithKeyAsync(MaasScopes.ModelsWrite);
        await (await client.PostAsync("api/v1/tenants", Api.Json("""{"name": "sneaky"}"""))).ErrorAsync(HttpStatusCode.Forbidden, "insufficient_scope");
        await (await client.GetAsync("api/v1/audit")).ErrorAsync(HttpStatusCode.Forbidden, "insufficient_scope");
        var entry = Assert.Single(await EntriesAsync($"actor={keyId}"));
        Assert.Equal("tenants.create", (string?)entry["action"]);
        Assert.Equal("denied", (string?)entry["result"]);
        Assert.Equal(403, (int?)entry["status"]);
    }

    [Fact]
    public async Task The_bootstrap_is_audited_as_the_system()
    {
        var entries = await EntriesAsync("actor=system");
        Assert.Contains(entries, e => (string?)e["action"] == "tenants.create" && (string?)e["target"] == Tenant.DefaultName);
        Assert.Contains(entries, e => (string?)e["action"] == "keys.create");
    }

    [Fact]
    public async Task The_log_is_append_only_in_the_database()
    {
        await Host.CreateTenantAsync();
        await EntriesAsync(""); // flushes
        var database = await TestDatabase.CreateAsync(Db.Sqlite);
        var update = await Assert.ThrowsAnyAsync<Exception>(() => RegistryDatabase.ScalarAsync(database, Host.Server.DataDir, "UPDATE audit_log SET result = 'success'"));
        Assert.Contains("append-only", update.Message, StringComparison.Ordinal);
        var delete = await Assert.ThrowsAnyAsync<Exception>(() => RegistryDatabase.ScalarAsync(database, Host.Server.DataDir, "DELETE FROM audit_log"));
        Assert.Contains("append-only", delete.Message, StringComparison.Ordinal);
    }

    private async Task<List<JsonNode>> EntriesAsync(string query)
    {
        var page = await (await Host.Admin.GetAsync("api/v1/audit?limit=1000&" + query)).JsonAsync(HttpStatusCode.OK);
        return page["entries"]!.AsArray().Select(e => e!).ToList();
    }

    private static void Entry(List<JsonNode> entries, string action, string target, int status, string result) =>
        Assert.Contains(entries, e =>
            (string?)e["action"] == action
            && ((string?)e["target"])?.Contains(target, StringComparison.Ordinal) == true
            && (int?)e["status"] == status
            && (string?)e["result"] == result);
}
