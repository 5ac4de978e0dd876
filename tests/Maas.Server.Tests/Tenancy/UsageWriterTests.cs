using System.Net;
using Maas.Core.Tenancy;
using Maas.Server.Auth;
using Maas.Server.Tests.Support;
using Microsoft.Extensions.DependencyInjection;

namespace Maas.Server.Tests.Tenancy;

/// <summary>The usage and audit writer keeps going past records the database refuses, and only valid model names are recorded.</summary>
public sealed class UsageWriterTests
{
    private static readonly TimeSpan Ceiling = TimeSpan.FromSeconds(60);

    [Theory]
    [OnSqlite]
    [OnPostgres]
    public async Task A_model_name_with_a_nul_is_neither_recorded_nor_a_metric_label_and_usage_goes_on(Db db)
    {
        await using var database = await TestDatabase.CreateAsync(db);
        await using var host = await TenancyHost.StartAsync(database: database);
        var (_, keyId, client) = await host.TenantWithKeyAsync(MaasScopes.Infer, MaasScopes.ModelsRead);
        using (client)
        {
            using var refused = await client.PostAsync("v1/chat/completions", Api.Json("""{"model": "bad\u0000name", "messages": [{"role": "user", "content": "hi"}]}"""));
            Assert.Equal(HttpStatusCode.NotFound, refused.StatusCode);
            Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("api/v1/me")).StatusCode);
        }

        // PostgreSQL refuses a NUL in text: today the writer retried that batch forever and this query never answered.
        using var timeout = new CancellationTokenSource(Ceiling);
        using var response = await host.Admin.GetAsync($"api/v1/usage?key={keyId}", timeout.Token);
        var usage = await response.JsonAsync(HttpStatusCode.OK);
        Assert.Equal(2, (long?)usage["totals"]!["requests"]);
        Assert.All(usage["rows"]!.AsArray(), row => Assert.Null((string?)row!["model"]));

        using var metrics = await host.Admin.GetAsync("metrics", timeout.Token);
        var text = await metrics.Content.ReadAsStringAsync(timeout.Token);
        Assert.DoesNotContain("bad", text, StringComparison.Ordinal);
    }

    [Theory]
    [OnSqlite]
    [OnPostgres]
    public async Task Records_the_database_refuses_are_set_aside_and_the_rest_is_written(Db db)
    {
        await using var database = await TestDatabase.CreateAsync(db);
        await using var host = await TenancyHost.StartAsync(database: database);
        var recorder = host.Server.Services.GetRequiredService<UsageRecorder>();
        var tracker = host.Server.Services.GetRequiredService<LimitTracker>();
        var tenant = await host.CreateTenantAsync();
        var counters = tracker.ForTenant(tenant);
        var keyId = "writer-test-" + Guid.NewGuid().ToString("n")[..8];
        UsageRecord Usage(string operation) => new()
        {
            At = DateTimeOffset.UtcNow,
            Tenant = tenant,
            KeyId = keyId,
            Protocol = "api",
            Operation = operation,
            Status = 200,
        };

        // Both databases refuse a missing required value; PostgreSQL also refuses a NUL in text (SQLite keeps it).
        using var timeout = new CancellationTokenSource(Ceiling);
        await recorder.FlushAsync(timeout.Token);
        var setAsideBefore = recorder.SetAside;
        recorder.Record(Usage("GET /first"), null, counters);
        recorder.Audit(new AuditEntry { At = DateTimeOffset.UtcNow, Actor = "system", Action = null!, Result = "success" });
        recorder.Record(Usage("GET /nul\0inside"), null, counters);
        recorder.Audit(new AuditEntry { At = DateTimeOffset.UtcNow, Actor = "system", Action = "writer-test " + keyId, Result = "success" });
        recorder.Record(Usage("GET /last"), null, counters);
        await recorder.FlushAsync(timeout.Token);

        var refused = db == Db.Postgres ? 2 : 1;
        Assert.Equal(refused, recorder.SetAside - setAsideBefore);
        var totals = await host.UsageTotalsAsync($"key={keyId}");
        Assert.Equal(3 - (refused - 1), (long?)totals["requests"]);
        using var audit = await host.Admin.GetAsync("api/v1/audit?action=writer-test", timeout.Token);
        Assert.Single((await audit.JsonAsync(HttpStatusCode.OK))["entries"]!.AsArray());

        // And the writer goes on with what comes next.
        recorder.Record(Usage("GET /after"), null, counters);
        Assert.Equal(4 - (refused - 1), (long?)(await host.UsageTotalsAsync($"key={keyId}"))["requests"]);
    }
}
