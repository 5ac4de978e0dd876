using System.Net;
using Maas.Core.Tenancy;
using Maas.Server.Tests.Support;

namespace Maas.Server.Tests.Tenancy;

/// <summary>Failed-attempt limiting per address and per key prefix: one client behind a shared address cannot lock out the rest.</summary>
public sealed class SharedAddressBruteForceTests
{
    [Fact]
    public async Task A_key_that_authenticated_lately_still_works_while_its_address_is_blocked()
    {
        await using var host = await TenancyHost.StartAsync(new Dictionary<string, string?>
        {
            ["Maas:Auth:FailedAttemptsPerWindow"] = "5",
        });
        var tenant = await host.CreateTenantAsync();
        var (_, known) = await host.CreateKeyAsync(tenant, [MaasScopes.ModelsRead]);
        var (_, unseen) = await host.CreateKeyAsync(tenant, [MaasScopes.ModelsRead]);
        using var colleague = host.Client(known);
        Assert.Equal(HttpStatusCode.OK, (await colleague.GetAsync("api/v1/me")).StatusCode);

        // Someone else behind the same address guesses keys until the address is blocked.
        for (var i = 0; i < 5; i++)
        {
            using var guess = host.Client($"maas_{Guid.NewGuid():n}{i}");
            Assert.Equal(HttpStatusCode.Unauthorized, (await guess.GetAsync("api/v1/me")).StatusCode);
        }

        using (var guess = host.Client($"maas_{Guid.NewGuid():n}"))
        {
            var refused = await guess.GetAsync("api/v1/me");
            var error = await refused.ErrorAsync(HttpStatusCode.TooManyRequests, "too_many_failed_attempts");
            Assert.Contains("FailedAttemptsPerWindow = 5", (string?)error["message"], StringComparison.Ordinal);
        }

        // The colleague's key has authenticated before: it keeps working. A key never seen waits like a guess.
        Assert.Equal(HttpStatusCode.OK, (await colleague.GetAsync("api/v1/me")).StatusCode);
        using var fresh = host.Client(unseen);
        Assert.Equal(HttpStatusCode.TooManyRequests, (await fresh.GetAsync("api/v1/me")).StatusCode);
    }

    [Fact]
    public async Task Failures_with_one_key_prefix_block_that_prefix_from_every_address_and_nothing_else()
    {
        await using var host = await TenancyHost.StartAsync(new Dictionary<string, string?>
        {
            ["Maas:Auth:FailedAttemptsPerKeyPrefix"] = "3",
            ["Maas:Auth:TrustedProxies:0"] = "127.0.0.1",
        });
        var tenant = await host.CreateTenantAsync();
        var (_, victim) = await host.CreateKeyAsync(tenant, [MaasScopes.ModelsRead]);
        var (_, other) = await host.CreateKeyAsync(tenant, [MaasScopes.ModelsRead]);
        for (var i = 0; i < 3; i++)
        {
            // Wrong secrets with the victim's prefix, each from another client address (through the trusted proxy).
            Assert.Equal(HttpStatusCode.Unauthorized, await GetMeAsync(host, victim[..12] + new string('x', 30) + i, $"203.0.113.{i + 1}"));
        }

        Assert.Equal(HttpStatusCode.TooManyRequests, await GetMeAsync(host, victim[..12] + new string('y', 31), "203.0.113.50"));
        Assert.Equal(HttpStatusCode.OK, await GetMeAsync(host, other, "203.0.113.50"));
    }

    [Fact]
    public async Task Forwarded_addresses_count_only_from_configured_proxies()
    {
        var settings = new Dictionary<string, string?> { ["Maas:Auth:FailedAttemptsPerWindow"] = "3" };
        await using (var untrusting = await TenancyHost.StartAsync(settings))
        {
            // No proxy configured: X-Forwarded-For is the client's own say and changes nothing; all count against it.
            for (var i = 0; i < 3; i++)
            {
                Assert.Equal(HttpStatusCode.Unauthorized, await GetMeAsync(untrusting, $"maas_{Guid.NewGuid():n}", $"198.51.100.{i + 1}"));
            }

            Assert.Equal(HttpStatusCode.TooManyRequests, await GetMeAsync(untrusting, $"maas_{Guid.NewGuid():n}", "198.51.100.99"));
        }

        settings["Maas:Auth:TrustedProxies:0"] = "127.0.0.0/8";
        await using var behindProxy = await TenancyHost.StartAsync(settings);
        var tenant = await behindProxy.CreateTenantAsync();
        var (_, unseen) = await behindProxy.CreateKeyAsync(tenant, [MaasScopes.ModelsRead]);
        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(HttpStatusCode.Unauthorized, await GetMeAsync(behindProxy, $"maas_{Guid.NewGuid():n}", "198.51.100.7"));
        }

        // The proxy forwards the real client: the guesser is blocked, another client of the same proxy is not.
        Assert.Equal(HttpStatusCode.TooManyRequests, await GetMeAsync(behindProxy, $"maas_{Guid.NewGuid():n}", "198.51.100.7"));
        Assert.Equal(HttpStatusCode.OK, await GetMeAsync(behindProxy, unseen, "198.51.100.8"));
    }

    private static async Task<HttpStatusCode> GetMeAsync(TenancyHost host, string key, string forwardedFor)
    {
        using var client = host.Client(key);
        using var request = new HttpRequestMessage(HttpMethod.Get, "api/v1/me");
        request.Headers.Add("X-Forwarded-For", forwardedFor);
        using var response = await client.SendAsync(request);
        return response.StatusCode;
    }
}
