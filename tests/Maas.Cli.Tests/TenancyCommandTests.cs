using Maas.Cli.Hosting;
using Maas.Cli.Tests.Support;
using Maas.Server.Tests.Support;
using Maas.Testing;

namespace Maas.Cli.Tests;

/// <summary><c>maas tenants</c>, <c>maas keys</c> and <c>maas usage</c> run as a process against a real server.</summary>
[Collection(CliServerCollection.Name)]
public sealed class TenancyCommandTests(CliServerFixture fixture)
{
    [Fact]
    public async Task Tenants_and_keys_are_created_listed_used_and_revoked()
    {
        var tenant = Names.Unique("team");
        var created = (await fixture.RunAsync("tenants", "create", tenant, "--json")).Json();
        Assert.Equal(tenant, (string?)created["name"]);
        var tenants = (await fixture.RunAsync("tenants", "--json")).Json().AsArray();
        Assert.Contains(tenant, tenants.Select(t => (string?)t!["name"]));
        (await fixture.RunAsync("tenants", "create", tenant)).AssertFailure(ExitCodes.Conflict, "tenant_exists");

        var key = (await fixture.RunAsync("keys", "create", "ci", "--tenant", tenant, "--scope", "infer", "--scope", "models:read", "--json")).Json();
        var secret = (string)key["key"]!;
        var id = (string)key["id"]!;
        Assert.Equal(tenant, (string?)key["tenant"]);
        Assert.Equal(["infer", "models:read"], key["scopes"]!.AsArray().Select(s => (string?)s).Order());

        var keys = (await fixture.RunAsync("keys", "list", "--tenant", tenant, "--json")).Json().AsArray();
        var listed = Assert.Single(keys);
        Assert.Equal(id, (string?)listed!["id"]);
        Assert.Null(listed["key"]); // never the secret again

        // The new key reads models but is not an admin: 403, one line, the server's code.
        Assert.Equal(0, (await fixture.RunWithKeyAsync(secret, "models", "list", "--json")).ExitCode);
        (await fixture.RunWithKeyAsync(secret, "tenants")).AssertFailure(ExitCodes.Auth, "insufficient_scope");

        // ps lists every loaded model, an admin's view; refused under /v2, it names the code too (it was http_403).
        (await fixture.RunWithKeyAsync(secret, "ps")).AssertFailure(ExitCodes.Auth, "insufficient_scope");

        var revoked = (await fixture.RunAsync("keys", "revoke", id, "--json")).Json();
        Assert.Equal(id, (string?)revoked["revoked"]);
        var refused = await fixture.RunWithKeyAsync(secret, "models", "list", "--json");
        Assert.Equal(ExitCodes.Auth, refused.ExitCode);
        Assert.Single(refused.ErrorLines);
        Assert.Empty(refused.Stdout);
        (await fixture.RunAsync("keys", "revoke", "key_does_not_exist")).AssertFailure(ExitCodes.NotFound, "key_not_found");
    }

    [Fact]
    public async Task Tenants_are_disabled_enabled_and_deleted_once_they_own_nothing()
    {
        var tenant = Names.Unique("gone");
        await fixture.RunAsync("tenants", "create", tenant, "--json");
        var secret = (string)(await fixture.RunAsync("keys", "create", "ci", "--tenant", tenant, "--scope", "models:read", "--json")).Json()["key"]!;
        Assert.Equal(0, (await fixture.RunWithKeyAsync(secret, "models", "list", "--json")).ExitCode);

        var disabled = await fixture.RunAsync("tenants", "disable", tenant);
        Assert.Equal(ExitCodes.Ok, disabled.ExitCode);
        Assert.Contains($"disabled tenant {tenant}", disabled.Stdout);
        Assert.Contains("is disabled", (await fixture.RunWithKeyAsync(secret, "models", "list")).AssertFailure(ExitCodes.Auth, "tenant_disabled"));
        var noKey = (await fixture.RunAsync("keys", "create", "late", "--tenant", tenant, "--scope", "infer")).AssertFailure(ExitCodes.Conflict, "tenant_disabled");
        Assert.Contains($"tenant '{tenant}' is disabled", noKey);
        var listed = (await fixture.RunAsync("tenants", "--json")).Json().AsArray().Single(t => (string?)t!["name"] == tenant)!;
        Assert.True((bool?)listed["disabled"]);
        Assert.Contains("disabled", (await fixture.RunAsync("tenants")).Stdout.Split('\n').Single(l => l.Contains(tenant, StringComparison.Ordinal)));

        Assert.False((bool?)(await fixture.RunAsync("tenants", "enable", tenant, "--json")).Json()["disabled"]);
        Assert.Equal(0, (await fixture.RunWithKeyAsync(secret, "models", "list", "--json")).ExitCode);

        var model = Names.Unique("held");
        await fixture.Client.CreateModelAsync(new Maas.Client.Registry.NewModel(model) { Owner = tenant });
        Assert.Contains($"1 model ({model})", (await fixture.RunAsync("tenants", "delete", tenant)).AssertFailure(ExitCodes.Conflict, "tenant_not_empty"));
        await fixture.Client.DeleteModelAsync($"{tenant}/{model}");
        var deleted = await fixture.RunAsync("tenants", "delete", tenant);
        Assert.Equal(ExitCodes.Ok, deleted.ExitCode);
        Assert.Contains($"deleted tenant {tenant}", deleted.Stdout);
        (await fixture.RunWithKeyAsync(secret, "models", "list")).AssertFailure(ExitCodes.Auth, "api_key_revoked");
        (await fixture.RunAsync("tenants", "rm", tenant)).AssertFailure(ExitCodes.NotFound, "tenant_not_found");
        (await fixture.RunAsync("keys", "create", "late", "--tenant", tenant, "--scope", "infer")).AssertFailure(ExitCodes.NotFound, "tenant_not_found");
        (await fixture.RunAsync("tenants", "disable", "default")).AssertFailure(ExitCodes.Conflict, "default_tenant_protected");
    }

    [Fact]
    public async Task Usage_json_has_rows_and_totals_that_count_requests()
    {
        // A call that names no model, then the report until it counts it (usage is written in batches, not at once:
        // run alone, this test read an empty report).
        var me = await fixture.Client.MeAsync();
        await Conditions.ReadUntilAsync(
            async () => (await fixture.RunAsync("usage", "--group-by", "none", "--json")).Json(),
            u => u["rows"]!.AsArray().Any(r => (string?)r!["key_id"] == me.KeyId && r["model"] is null) && (long)u["totals"]!["requests"]! > 0,
            "the usage report counts the admin key's call without a model",
            show: u => u.ToJsonString());
        var table = await fixture.RunAsync("usage");
        Assert.Equal(ExitCodes.Ok, table.ExitCode);
        Assert.Contains("REQUESTS", table.Stdout);

        // The table names the admin's key (the JSON has its id), and the calls that named no model say so.
        Assert.Matches($@"│ {System.Text.RegularExpressions.Regex.Escape(me.KeyName!)}\s*│ \(none\)\s*│", table.Stdout);
        Assert.DoesNotContain(me.KeyId, table.Stdout, StringComparison.Ordinal);
        (await fixture.RunAsync("usage", "--group-by", "week")).AssertFailure(ExitCodes.Usage, "usage");
    }
}
