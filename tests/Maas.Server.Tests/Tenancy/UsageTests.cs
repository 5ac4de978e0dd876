using System.Net;
using System.Text.Json.Nodes;
using Maas.Core.Tenancy;
using Maas.Server.Auth;
using Maas.Server.Tests.Support;
using Maas.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Maas.Server.Tests.Tenancy;

public sealed class UsageTests(TenancyHostFixture fixture) : IClassFixture<TenancyHostFixture>
{
    private TenancyHost Host => fixture.Host;

    [Fact]
    public async Task Every_request_of_a_key_is_metered_including_refusals()
    {
        var (tenant, keyId, client) = await Host.TenantWithKeyAsync(MaasScopes.ModelsRead);
        for (var i = 0; i < 5; i++)
        {
            Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("api/v1/me")).StatusCode);
        }

        Assert.Equal(HttpStatusCode.Forbidden, (await client.GetAsync("api/v1/keys")).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await client.GetAsync("api/v1/tenants")).StatusCode);

        var totals = await Host.UsageTotalsAsync($"key={keyId}");
        Assert.Equal(7, (long?)totals["requests"]);
        Assert.Equal(2, (long?)totals["errors"]);

        // By tenant, and grouped by hour: one bucket this hour with the same count.
        var grouped = await (await Host.Admin.GetAsync($"api/v1/usage?tenant={tenant}&group_by=hour")).JsonAsync(HttpStatusCode.OK);
        var rows = grouped["rows"]!.AsArray();
        var row = Assert.Single(rows);
        Assert.Equal(7, (long?)row!["requests"]);
        Assert.Equal(keyId, (string?)row["key_id"]);
        var period = DateTimeOffset.Parse((string)row["period"]!, System.Globalization.CultureInfo.InvariantCulture);
        Assert.Equal(0, period.Minute);
        Assert.True(DateTimeOffset.UtcNow - period < TimeSpan.FromHours(1.1));
    }

    [Fact]
    public async Task Usage_totals_equal_the_requests_of_32_concurrent_clients()
    {
        var tenant = await Host.CreateTenantAsync();
        var (keyId, secret) = await Host.CreateKeyAsync(tenant, [MaasScopes.ModelsRead]);
        const int clients = 32;
        const int each = 10;
        await Task.WhenAll(Enumerable.Range(0, clients).Select(async _ =>
        {
            using var client = Host.Client(secret);
            for (var i = 0; i < each; i++)
            {
                using var response = await client.GetAsync("api/v1/me");
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            }
        }));

        var totals = await Host.UsageTotalsAsync($"key={keyId}");
        Assert.Equal(clients * each, (long?)totals["requests"]);
        Assert.Equal(clients * each, (long?)(await Host.UsageTotalsAsync($"tenant={tenant}"))["requests"]);
    }

    [Fact]
    public async Task Usage_totals_carry_the_mean_and_largest_latency_of_all_the_rows()
    {
        // The totals had no latency: `maas usage` printed 0 ms for the mean and the largest of every request.
        var tenant = await Host.CreateTenantAsync();
        var (_, first) = await Host.CreateKeyAsync(tenant, [MaasScopes.ModelsRead]);
        var (_, second) = await Host.CreateKeyAsync(tenant, [MaasScopes.ModelsRead]);
        foreach (var (secret, calls) in new[] { (first, 3), (second, 5) })
        {
            using var client = Host.Client(secret);
            for (var i = 0; i < calls; i++)
            {
                Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("api/v1/me")).StatusCode);
            }
        }

        var report = await (await Host.Admin.GetAsync($"api/v1/usage?tenant={tenant}")).JsonAsync(HttpStatusCode.OK);
        var rows = report["rows"]!.AsArray().Select(r => r!).ToList();
        Assert.Equal(2, rows.Count);
        var totals = report["totals"]!;
        Assert.Equal(8, (long?)totals["requests"]);
        var weighted = rows.Sum(r => (double)r["avg_latency_ms"]! * (long)r["requests"]!) / 8;
        Assert.True(weighted > 0, report.ToJsonString());
        Assert.Equal(weighted, (double)totals["avg_latency_ms"]!, 9);
        Assert.Equal(rows.Max(r => (double)r["max_latency_ms"]!), (double)totals["max_latency_ms"]!);

        // No rows: zeros, not an error.
        var none = await (await Host.Admin.GetAsync($"api/v1/usage?tenant={tenant}&model=no-such-model")).JsonAsync(HttpStatusCode.OK);
        Assert.Equal(0.0, (double)none["totals"]!["avg_latency_ms"]!);
        Assert.Equal(0.0, (double)none["totals"]!["max_latency_ms"]!);
    }

    [Fact]
    public async Task A_shared_model_asked_for_by_name_counts_the_calls_of_every_tenant()
    {
        // Usage names a model as each caller's tenant does: its owner's calls "sm", another tenant's "owner/sm". Asked
        // for one model, the answer counted only the rows spelled as asked, so its owner never saw both in one total.
        var owner = await Host.CreateTenantAsync();
        var user = await Host.CreateTenantAsync();
        var model = "sm-" + Guid.NewGuid().ToString("n")[..8];
        await (await Host.Admin.PostAsync("api/v1/models",
            Api.Json($$"""{"name": "{{model}}", "owner": "{{owner}}", "visibility": "shared"}"""))).JsonAsync(HttpStatusCode.Created);
        var (_, ownerSecret) = await Host.CreateKeyAsync(owner, [MaasScopes.ModelsRead]);
        var (_, userSecret) = await Host.CreateKeyAsync(user, [MaasScopes.ModelsRead]);
        using (var ownerClient = Host.Client(ownerSecret))
        using (var userClient = Host.Client(userSecret))
        {
            for (var i = 0; i < 2; i++)
            {
                Assert.Equal(HttpStatusCode.OK, (await ownerClient.GetAsync($"api/v1/models/{model}")).StatusCode);
            }

            for (var i = 0; i < 3; i++)
            {
                Assert.Equal(HttpStatusCode.OK, (await userClient.GetAsync($"api/v1/models/{owner}%2F{model}")).StatusCode);
            }

            // Each tenant reads its own calls, by the name it uses; the owner's short name is its own model.
            Assert.Equal(2, (long?)(await (await ownerClient.GetAsync($"api/v1/usage?model={model}")).JsonAsync(HttpStatusCode.OK))["totals"]!["requests"]);
            Assert.Equal(3, (long?)(await (await userClient.GetAsync($"api/v1/usage?model={owner}/{model}")).JsonAsync(HttpStatusCode.OK))["totals"]!["requests"]);
        }

        // An admin asking for owner/name, or for the short name within the owner's tenant and the other's, gets both.
        // (The admin's own call that created the model is a row of its tenant too.)
        var both = await (await Host.Admin.GetAsync($"api/v1/usage?model={owner}/{model}")).JsonAsync(HttpStatusCode.OK);
        Assert.Equal($"{owner}/{model}", (string?)both["model"]);
        var rows = both["rows"]!.AsArray().Select(r => ((string)r!["tenant"]!, (string)r["model"]!, (long)r["requests"]!)).ToList();
        // Both sides in one order: the tenants' names are random, so which comes first is too.
        (string, string, long)[] expected = [(owner, model, 2L), (user, $"{owner}/{model}", 3L)];
        Assert.Equal(expected.Order(), rows.Where(r => r.Item1 == owner || r.Item1 == user).Order());
        Assert.Equal(rows.Sum(r => r.Item3), (long?)both["totals"]!["requests"]);
        Assert.Equal(2, (long?)(await Host.UsageTotalsAsync($"tenant={owner}&model={model}"))["requests"]);
        Assert.Equal(3, (long?)(await Host.UsageTotalsAsync($"tenant={user}&model={owner}/{model}"))["requests"]);
        Assert.Equal(0, (long?)(await Host.UsageTotalsAsync($"tenant={user}&model={model}"))["requests"]);
    }

    [Fact]
    public async Task Usage_is_exported_as_csv_and_filtered_by_time()
    {
        var (_, keyId, client) = await Host.TenantWithKeyAsync(MaasScopes.ModelsRead);
        await client.GetAsync("api/v1/me");
        await client.GetAsync("api/v1/me");

        using var request = new HttpRequestMessage(HttpMethod.Get, $"api/v1/usage?key={keyId}&group_by=day");
        request.Headers.Accept.ParseAdd("text/csv");
        using var response = await Host.Admin.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.StartsWith("text/csv", response.Content.Headers.ContentType?.ToString());
        var lines = (await response.Content.ReadAsStringAsync()).Split("\r\n", StringSplitOptions.RemoveEmptyEntries);
        Assert.StartsWith("period,tenant,key_id,model,requests,errors,", lines[0], StringComparison.Ordinal);
        var fields = Assert.Single(lines[1..]).Split(',');
        Assert.Equal(keyId, fields[2]);
        Assert.Equal("2", fields[4]);
        Assert.EndsWith("T00:00:00Z", fields[0], StringComparison.Ordinal);

        var future = DateTimeOffset.UtcNow.AddHours(1).ToString("O");
        Assert.Equal(0, (long?)(await Host.UsageTotalsAsync($"key={keyId}&from={Uri.EscapeDataString(future)}"))["requests"]);
        Assert.Equal(2, (long?)(await Host.UsageTotalsAsync($"key={keyId}&to={Uri.EscapeDataString(future)}"))["requests"]);
        await (await Host.Admin.GetAsync("api/v1/usage?from=yesterday")).ErrorAsync(HttpStatusCode.BadRequest, "invalid_query");
        await (await Host.Admin.GetAsync("api/v1/usage?group_by=week")).ErrorAsync(HttpStatusCode.BadRequest, "invalid_query");
        await (await Host.Admin.GetAsync("api/v1/usage?format=xml")).ErrorAsync(HttpStatusCode.BadRequest, "invalid_query");
        Assert.Equal(HttpStatusCode.OK, (await Host.Admin.GetAsync($"api/v1/usage?key={keyId}&format=json")).StatusCode);
    }

    [Fact]
    public async Task A_tenant_reads_only_its_own_usage()
    {
        var (tenant, _, client) = await Host.TenantWithKeyAsync(MaasScopes.ModelsRead);
        var (other, _, otherClient) = await Host.TenantWithKeyAsync(MaasScopes.ModelsRead);
        await otherClient.GetAsync("api/v1/me");

        var own = await (await client.GetAsync("api/v1/usage")).JsonAsync(HttpStatusCode.OK);
        Assert.Equal(tenant, (string?)own["tenant"]);
        Assert.All(own["rows"]!.AsArray(), r => Assert.Equal(tenant, (string?)r!["tenant"]));
        await (await client.GetAsync($"api/v1/usage?tenant={other}")).ErrorAsync(HttpStatusCode.Forbidden, "insufficient_scope");

        var (_, _, inferOnly) = await Host.TenantWithKeyAsync(MaasScopes.Infer);
        await (await inferOnly.GetAsync("api/v1/usage")).ErrorAsync(HttpStatusCode.Forbidden, "insufficient_scope");
    }

    [Fact]
    public async Task A_key_limited_to_some_models_reads_only_their_usage_and_its_own()
    {
        var tenant = await Host.CreateTenantAsync();
        var m1 = "m1-" + Guid.NewGuid().ToString("n")[..8];
        var tm = "tm-" + Guid.NewGuid().ToString("n")[..8];
        foreach (var name in new[] { m1, tm })
        {
            await (await Host.Admin.PostAsync("api/v1/models", Api.Json($$"""{"name": "{{name}}", "owner": "{{tenant}}"}"""))).JsonAsync(HttpStatusCode.Created);
        }

        var (limitedId, limitedSecret) = await Host.CreateKeyAsync(tenant, [MaasScopes.ModelsRead], models: [m1]);
        var (otherId, otherSecret) = await Host.CreateKeyAsync(tenant, [MaasScopes.ModelsRead]);
        using var limited = Host.Client(limitedSecret);
        using var other = Host.Client(otherSecret);
        Assert.Equal(HttpStatusCode.OK, (await other.GetAsync($"api/v1/models/{m1}")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await other.GetAsync($"api/v1/models/{tm}")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await other.GetAsync("api/v1/me")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await limited.GetAsync("api/v1/me")).StatusCode);

        // The admin sees the other key's call of tm; the limited key does not, asked by name or not.
        Assert.Equal(1, (long?)(await Host.UsageTotalsAsync($"tenant={tenant}&model={tm}"))["requests"]);
        var asked = await (await limited.GetAsync($"api/v1/usage?model={tm}")).JsonAsync(HttpStatusCode.OK);
        Assert.Empty(asked["rows"]!.AsArray());
        Assert.Equal(0, (long?)asked["totals"]!["requests"]);

        var all = await (await limited.GetAsync("api/v1/usage")).JsonAsync(HttpStatusCode.OK);
        var rows = all["rows"]!.AsArray();
        Assert.All(rows, r => Assert.True((string?)r!["model"] == m1 || ((string?)r["model"] is null && (string?)r["key_id"] == limitedId), r.ToJsonString()));
        Assert.Contains(rows, r => (string?)r!["model"] == m1 && (string?)r["key_id"] == otherId);
        Assert.Contains(rows, r => (string?)r!["model"] is null && (string?)r["key_id"] == limitedId);

        using var csvRequest = new HttpRequestMessage(HttpMethod.Get, "api/v1/usage?format=csv");
        var csv = await (await limited.SendAsync(csvRequest)).Content.ReadAsStringAsync();
        Assert.DoesNotContain(tm, csv, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("usage", "0")]
    [InlineData("usage", "-1")]
    [InlineData("usage", "100001")]
    [InlineData("audit", "0")]
    [InlineData("audit", "-1")]
    [InlineData("audit", "100000")]
    public async Task A_limit_out_of_range_is_refused_naming_the_range(string route, string limit)
    {
        var error = await (await Host.Admin.GetAsync($"api/v1/{route}?limit={limit}")).ErrorAsync(HttpStatusCode.BadRequest, "invalid_query");
        Assert.Contains(route == "usage" ? "between 1 and 100000" : "between 1 and 1000", error.ToJsonString(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.OK, (await Host.Admin.GetAsync($"api/v1/{route}?limit={(route == "usage" ? 100000 : 1000)}")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await Host.Admin.GetAsync($"api/v1/{route}?limit=1")).StatusCode);
    }

    [Fact]
    public async Task Last_used_is_written_in_batches()
    {
        var (_, keyId, client) = await Host.TenantWithKeyAsync(MaasScopes.ModelsRead);
        var before = await (await Host.Admin.GetAsync($"api/v1/keys/{keyId}")).JsonAsync(HttpStatusCode.OK);
        Assert.Null(before["last_used_at"]);
        await client.GetAsync("api/v1/me");

        // Touched as its usage is recorded; the batch is written once its period has passed on the server's clock
        // (should the move come first, the next period writes it).
        await Conditions.WaitUntilAsync(async () => (long?)(await Host.UsageTotalsAsync($"key={keyId}"))["requests"] >= 1, "the request is recorded");
        var period = Host.Server.Services.GetRequiredService<IOptions<UsageOptions>>().Value.LastUsedFlushSeconds;
        Host.Clock.Advance(TimeSpan.FromSeconds(period));
        var key = await Conditions.ReadUntilAsync(
            async () => await (await Host.Admin.GetAsync($"api/v1/keys/{keyId}")).JsonAsync(HttpStatusCode.OK),
            k => k["last_used_at"] is not null,
            "the key's last use is written",
            show: k => k.ToJsonString());

        Assert.NotNull(key["last_used_at"]);
    }
}

public sealed class UsageDurabilityTests
{
    [Fact]
    public async Task Usage_recorded_before_a_graceful_shutdown_is_all_there_after_restart()
    {
        using var folder = new TempDirectory("maas-usage");
        string keyId;
        const int requests = 200;
        // A long flush delay: the records are still queued when the shutdown begins.
        var settings = new Dictionary<string, string?> { ["Maas:Usage:FlushMs"] = "5000" };
        await using (var host = await TenancyHost.StartAsync(settings, dataDir: folder.Path))
        {
            var tenant = await host.CreateTenantAsync();
            string secret;
            (keyId, secret) = await host.CreateKeyAsync(tenant, [MaasScopes.ModelsRead]);
            using var client = host.Client(secret);
            await Task.WhenAll(Enumerable.Range(0, 8).Select(async _ =>
            {
                for (var i = 0; i < requests / 8; i++)
                {
                    await client.GetAsync("api/v1/me");
                }
            }));
        }

        await using var restarted = await TenancyHost.StartAsync(dataDir: folder.Path);
        Assert.Equal(requests, (long?)(await restarted.UsageTotalsAsync($"key={keyId}"))["requests"]);
    }
}
