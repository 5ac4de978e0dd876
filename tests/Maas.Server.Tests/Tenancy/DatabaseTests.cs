using System.Net;
using Maas.Core.Tenancy;
using Maas.Server.Tests.Support;

namespace Maas.Server.Tests.Tenancy;

/// <summary>The tenancy store's queries on each database: keys, usage in every grouping, audit.</summary>
public sealed class DatabaseTests
{
    [Theory]
    [OnSqlite]
    [OnPostgres]
    public async Task Keys_usage_and_audit_work_on_the_database(Db db)
    {
        await using var database = await TestDatabase.CreateAsync(db);
        await using var host = await TenancyHost.StartAsync(database: database);
        var tenant = await host.CreateTenantAsync(limits: """{"daily_tokens": 1000000, "monthly_compute_seconds": 100000}""");
        var (keyId, secret) = await host.CreateKeyAsync(tenant, [MaasScopes.ModelsRead], limits: """{"daily_tokens": 1000}""");
        using var client = host.Client(secret);
        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("api/v1/me")).StatusCode);
        }

        Assert.Equal(HttpStatusCode.Forbidden, (await client.GetAsync("api/v1/keys")).StatusCode);
        foreach (var grouping in new[] { "none", "hour", "day" })
        {
            var usage = await (await host.Admin.GetAsync($"api/v1/usage?key={keyId}&group_by={grouping}")).JsonAsync(HttpStatusCode.OK);
            Assert.Equal(4, (long?)usage["totals"]!["requests"]);
            Assert.Equal(1, (long?)usage["totals"]!["errors"]);
            var row = Assert.Single(usage["rows"]!.AsArray());
            Assert.Equal(grouping == "none", row!["period"] is null);
        }

        Assert.Equal(HttpStatusCode.NoContent, (await host.Admin.DeleteAsync($"api/v1/keys/{keyId}")).StatusCode);
        await (await client.GetAsync("api/v1/me")).ErrorAsync(HttpStatusCode.Unauthorized, "api_key_revoked");
        var audit = await (await host.Admin.GetAsync("api/v1/audit?action=keys.")).JsonAsync(HttpStatusCode.OK);
        Assert.Contains(audit["entries"]!.AsArray(), e => (string?)e!["action"] == "keys.revoke" && ((string?)e["target"])!.Contains(keyId, StringComparison.Ordinal));
        var revoked = await (await host.Admin.GetAsync($"api/v1/keys?tenant={tenant}&include_revoked=true")).JsonAsync(HttpStatusCode.OK);
        Assert.Equal("revoked", (string?)Assert.Single(revoked["keys"]!.AsArray())!["status"]);
        Assert.Empty((await (await host.Admin.GetAsync($"api/v1/keys?tenant={tenant}")).JsonAsync(HttpStatusCode.OK))["keys"]!.AsArray());
    }
}
