using System.Net;
using Maas.Core.Tenancy;
using Maas.Server.Tests.Support;
using Microsoft.Extensions.DependencyInjection;
using static Maas.Testing.Conditions;

namespace Maas.Server.Tests.Tenancy;

/// <summary>
/// The limit counters of keys and tenants do not outlive their use: revoked (or merely idle) keys and their tenants
/// are dropped after Maas:Limits:IdleCounterSeconds, while a key in use keeps its window.
/// </summary>
public sealed class LimitCounterSweepTests
{
    [Fact]
    public async Task Counters_of_revoked_keys_and_idle_tenants_are_dropped_after_the_idle_time_and_come_back_when_used()
    {
        await using var host = await TenancyHost.StartAsync(new Dictionary<string, string?> { ["Maas:Limits:IdleCounterSeconds"] = "600" });
        var tracker = host.Server.Services.GetRequiredService<LimitTracker>();

        var tenants = new List<string>();
        var keys = new List<string>();
        for (var t = 0; t < 10; t++)
        {
            var tenant = await host.CreateTenantAsync();
            tenants.Add(tenant);
            for (var k = 0; k < 5; k++)
            {
                var (id, secret) = await host.CreateKeyAsync(tenant, [MaasScopes.ModelsRead]);
                using var client = host.Client(secret);
                Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("api/v1/me")).StatusCode);
                keys.Add(id);
            }
        }

        Assert.All(keys, id => Assert.True(tracker.HoldsKey(id)));
        Assert.All(tenants, t => Assert.True(tracker.HoldsTenant(t)));
        foreach (var id in keys.Take(25))
        {
            Assert.Equal(HttpStatusCode.NoContent, (await host.Admin.DeleteAsync($"api/v1/keys/{id}")).StatusCode);
        }

        // Within the idle time nothing goes (a usage flush and a sweep may run meanwhile).
        host.Clock.Advance(TimeSpan.FromSeconds(300));
        await host.Server.Services.GetRequiredService<Maas.Server.Auth.UsageRecorder>().FlushAsync(CancellationToken.None);
        Assert.All(keys, id => Assert.True(tracker.HoldsKey(id)));

        // Past it, revoked and unused keys alike go, and so do their tenants.
        host.Clock.Advance(TimeSpan.FromSeconds(400));
        await WaitUntilAsync(() => keys.All(id => !tracker.HoldsKey(id)) && tenants.All(t => !tracker.HoldsTenant(t)), "every key's and tenant's counters dropped");

        // A key used again gets fresh counters (its limits hold as before).
        var (again, secretAgain) = await host.CreateKeyAsync(tenants[0], [MaasScopes.ModelsRead], limits: """{"requests_per_minute": 1}""");
        using var used = host.Client(secretAgain);
        using var held = host.HoldAtFreshWindow(60_000);
        Assert.Equal(HttpStatusCode.OK, (await used.GetAsync("api/v1/me")).StatusCode);
        Assert.Equal(HttpStatusCode.TooManyRequests, (await used.GetAsync("api/v1/me")).StatusCode);
        Assert.True(tracker.HoldsKey(again));
        Assert.True(tracker.HoldsTenant(tenants[0]));
    }
}
