using System.Net;
using System.Net.Http.Headers;
using Maas.Core.Tenancy;
using Maas.Server.Tests.Support;
using Microsoft.Extensions.DependencyInjection;
using static Maas.Testing.Conditions;

namespace Maas.Server.Tests.Tenancy;

/// <summary>A server whose "per minute" windows last two seconds, so limits reset within a test.</summary>
public sealed class ShortWindowFixture : IAsyncLifetime
{
    private TenancyHost? _host;

    public TenancyHost Host => _host ?? throw new InvalidOperationException("not started");

    public async Task InitializeAsync() =>
        _host = await TenancyHost.StartAsync(new Dictionary<string, string?> { ["Maas:Limits:WindowSeconds"] = "2" });

    public async Task DisposeAsync()
    {
        if (_host is not null)
        {
            await _host.DisposeAsync();
        }
    }
}

public sealed class LimitTests(ShortWindowFixture fixture) : IClassFixture<ShortWindowFixture>
{
    private TenancyHost Host => fixture.Host;

    [Fact]
    public async Task A_keys_requests_per_window_are_enforced_with_openai_style_headers_and_reset()
    {
        var tenant = await Host.CreateTenantAsync();
        var (_, secret) = await Host.CreateKeyAsync(tenant, [MaasScopes.ModelsRead], limits: """{"requests_per_minute": 3}""");
        using var client = Host.Client(secret);
        using var held = Host.HoldAtFreshWindow(2000);
        for (var remaining = 2; remaining >= 0; remaining--)
        {
            using var ok = await client.GetAsync("api/v1/me");
            Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
            Assert.Equal("3", Header(ok, "x-ratelimit-limit-requests"));
            Assert.Equal(remaining.ToString(System.Globalization.CultureInfo.InvariantCulture), Header(ok, "x-ratelimit-remaining-requests"));
            Assert.Matches("^[0-9.]+m?s$", Header(ok, "x-ratelimit-reset-requests"));
        }

        using var refused = await client.GetAsync("api/v1/me");
        var error = await refused.ErrorAsync(HttpStatusCode.TooManyRequests, "rate_limit_exceeded");
        Assert.Equal("requests_per_minute", (string?)error["limit"]);
        Assert.Equal("key", (string?)error["scope"]);
        Assert.Equal(3, (int?)error["value"]);
        Assert.NotNull(error["reset_at"]);
        var retryAfter = refused.Headers.RetryAfter?.Delta ?? throw new InvalidOperationException("no Retry-After");
        Assert.InRange(retryAfter.TotalSeconds, 1, 2);
        Assert.Equal("0", Header(refused, "x-ratelimit-remaining-requests"));

        Host.Clock.Advance(retryAfter);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("api/v1/me")).StatusCode);
    }

    [Fact]
    public async Task A_request_limit_on_the_openai_routes_is_type_requests_with_its_headers()
    {
        var (client, window) = await KeyWithItsOneRequestSpentAsync("v1/models");
        using var disposeClient = client;
        using var held = window;
        using var refused = await client.GetAsync("v1/models");
        var error = await refused.ErrorAsync(HttpStatusCode.TooManyRequests, "rate_limit_exceeded");
        Assert.Equal("requests", (string?)error["type"]); // OpenAI's type for its requests-per-minute limits
        Assert.Equal("requests_per_minute", (string?)error["limit"]);
        Assert.NotNull(refused.Headers.RetryAfter);
        Assert.Equal("1", Header(refused, "x-ratelimit-limit-requests"));
        Assert.Equal("0", Header(refused, "x-ratelimit-remaining-requests"));
    }

    [Fact]
    public async Task A_request_limit_on_the_oip_and_ollama_routes_names_the_limit_and_its_value_beside_their_flat_error()
    {
        var (client, window) = await KeyWithItsOneRequestSpentAsync("v2");
        using var disposeClient = client;
        using var held = window;

        // Both protocols keep their {"error": "message"} and add the limit as the OIP adapter's queue refusals do.
        foreach (var route in new[] { "v2", "api/tags" })
        {
            using var refused = await client.GetAsync(route);
            Assert.Equal(HttpStatusCode.TooManyRequests, refused.StatusCode);
            var body = System.Text.Json.Nodes.JsonNode.Parse(await refused.Content.ReadAsStringAsync())!;
            Assert.Contains("requests_per_minute = 1", (string?)body["error"], StringComparison.Ordinal);
            Assert.Equal("requests_per_minute", (string?)body["limit"]);
            Assert.Equal(1, (int?)body["limit_value"]);
            Assert.Equal("key", (string?)body["scope"]);
            Assert.NotNull(body["reset_at"]);
            Assert.InRange((int?)body["retry_after_seconds"] ?? 0, 1, 2);
            Assert.NotNull(refused.Headers.RetryAfter);
        }
    }

    // A key allowed one request a minute that has just made it on route, with the clock held in that minute.
    private async Task<(HttpClient Client, IDisposable Held)> KeyWithItsOneRequestSpentAsync(string route)
    {
        var tenant = await Host.CreateTenantAsync();
        var (_, secret) = await Host.CreateKeyAsync(tenant, [MaasScopes.Infer, MaasScopes.ModelsRead], limits: """{"requests_per_minute": 1}""");
        var client = Host.Client(secret);
        var held = Host.HoldAtFreshWindow(2000);
        using (var ok = await client.GetAsync(route))
        {
            Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        }

        return (client, held);
    }

    [Fact]
    public async Task A_tenants_limit_spans_all_its_keys()
    {
        var tenant = await Host.CreateTenantAsync(limits: """{"requests_per_minute": 2}""");
        var (_, a) = await Host.CreateKeyAsync(tenant, [MaasScopes.ModelsRead]);
        var (_, b) = await Host.CreateKeyAsync(tenant, [MaasScopes.ModelsRead]);
        using var clientA = Host.Client(a);
        using var clientB = Host.Client(b);
        using var held = Host.HoldAtFreshWindow(2000);
        Assert.Equal(HttpStatusCode.OK, (await clientA.GetAsync("api/v1/me")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await clientB.GetAsync("api/v1/me")).StatusCode);
        var error = await (await clientA.GetAsync("api/v1/me")).ErrorAsync(HttpStatusCode.TooManyRequests, "rate_limit_exceeded");
        Assert.Equal("tenant", (string?)error["scope"]);

        // Another tenant is not affected.
        var (_, _, other) = await Host.TenantWithKeyAsync(MaasScopes.ModelsRead);
        Assert.Equal(HttpStatusCode.OK, (await other.GetAsync("api/v1/me")).StatusCode);
    }

    [Fact]
    public async Task Concurrent_requests_are_limited_while_they_run()
    {
        var (id, secret) = await Host.CreateKeyAsync(Tenant.DefaultName, [MaasScopes.Admin], limits: """{"concurrent_requests": 1}""");
        using var client = Host.Client(secret);

        // The first request holds its slot while its body trickles in (admission happens before the handler reads it).
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var slow = client.PostAsync("api/v1/tenants", new HeldBackContent($$"""{"name": "held-{{id[4..]}}"}""", release.Task));
        await WaitUntilAsync(() => Host.Server.Services.GetRequiredService<LimitTracker>().ForKey(id).Running == 1);

        var error = await (await client.GetAsync("api/v1/me")).ErrorAsync(HttpStatusCode.TooManyRequests, "rate_limit_exceeded");
        Assert.Equal("concurrent_requests", (string?)error["limit"]);
        Assert.Equal(1, (int?)error["value"]);

        release.SetResult();
        Assert.Equal(HttpStatusCode.Created, (await slow).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("api/v1/me")).StatusCode);
    }

    private static string? Header(HttpResponseMessage response, string name) =>
        response.Headers.TryGetValues(name, out var values) ? values.Single() : null;


    /// <summary>A JSON body that is sent only once the test releases it.</summary>
    private sealed class HeldBackContent : HttpContent
    {
        private readonly byte[] _bytes;
        private readonly Task _release;

        public HeldBackContent(string json, Task release)
        {
            _bytes = System.Text.Encoding.UTF8.GetBytes(json);
            _release = release;
            Headers.ContentType = new MediaTypeHeaderValue("application/json");
        }

        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context)
        {
            await stream.FlushAsync();
            await _release;
            await stream.WriteAsync(_bytes);
        }

        protected override bool TryComputeLength(out long length)
        {
            length = _bytes.Length;
            return true;
        }
    }
}
