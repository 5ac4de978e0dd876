using System.Net;
using System.Text.Json.Nodes;
using Maas.Core.Tenancy;
using Maas.Server.Auth;
using Maas.Server.Tests.Support;
using Maas.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Maas.Server.Tests.Tenancy;

/// <summary>One server shared by the class's tests (each makes its own tenants and keys).</summary>
public sealed class TenancyHostFixture : IAsyncLifetime
{
    private TenancyHost? _host;

    public TenancyHost Host => _host ?? throw new InvalidOperationException("not started");

    public async Task InitializeAsync() => _host = await TenancyHost.StartAsync();

    public async Task DisposeAsync()
    {
        if (_host is not null)
        {
            await _host.DisposeAsync();
        }
    }
}

public sealed class AuthenticationTests(TenancyHostFixture fixture) : IClassFixture<TenancyHostFixture>
{
    private TenancyHost Host => fixture.Host;

    [Fact]
    public async Task Health_probes_need_no_key_and_every_other_route_does()
    {
        using var anonymous = Host.Client(null);
        foreach (var probe in new[] { "health/live", "health/ready", "v2/health/live", "v2/health/ready" })
        {
            using var ok = await anonymous.GetAsync(probe);
            Assert.True(ok.IsSuccessStatusCode, $"{probe}: {(int)ok.StatusCode}");
        }

        foreach (var route in new[] { "api/v1/tenants", "api/v1/keys", "api/v1/me", "api/v1/usage", "api/v1/audit", "metrics", "api/v1/no-such-route", "no/such/path" })
        {
            using var refused = await anonymous.GetAsync(route);
            var error = await refused.ErrorAsync(HttpStatusCode.Unauthorized, "missing_api_key");
            Assert.Contains("Bearer", refused.Headers.WwwAuthenticate.ToString(), StringComparison.Ordinal);
            Assert.Contains("API key", (string?)error["message"], StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Bearer_and_x_api_key_both_identify_the_caller()
    {
        var tenant = await Host.CreateTenantAsync();
        var (id, secret) = await Host.CreateKeyAsync(tenant, [MaasScopes.ModelsRead], ["chat-*"]);

        using var bearer = Host.Client(secret);
        var me = await (await bearer.GetAsync("api/v1/me")).JsonAsync(HttpStatusCode.OK);
        Assert.Equal(id, (string?)me["key_id"]);
        Assert.Equal(tenant, (string?)me["tenant"]);
        Assert.Equal(secret[..12], (string?)me["key_prefix"]);
        Assert.Equal("chat-*", (string?)me["models"]![0]);

        using var header = Host.Client(null);
        header.DefaultRequestHeaders.Add("x-api-key", secret);
        var again = await (await header.GetAsync("api/v1/me")).JsonAsync(HttpStatusCode.OK);
        Assert.Equal(id, (string?)again["key_id"]);

        // The secret is shown once: listings carry only the prefix.
        var listing = await (await Host.Admin.GetAsync($"api/v1/keys?tenant={tenant}")).Content.ReadAsStringAsync();
        Assert.DoesNotContain(secret, listing, StringComparison.Ordinal);
        Assert.Contains(secret[..12], listing, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("Bearer short")]
    [InlineData("Bearer maas_this-key-was-never-issued-by-anyone-000")]
    [InlineData("Bearer maas_bad characters are not allowed in keys")]
    public async Task Malformed_and_unknown_keys_get_401(string authorization)
    {
        using var client = Host.Client(null);
        client.DefaultRequestHeaders.TryAddWithoutValidation("Authorization", authorization);
        using var response = await client.GetAsync("api/v1/me");
        await response.ErrorAsync(HttpStatusCode.Unauthorized, "invalid_api_key");
        Assert.DoesNotContain(authorization[7..], await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_scheme_other_than_bearer_gets_401()
    {
        using var client = Host.Client(null);
        client.DefaultRequestHeaders.TryAddWithoutValidation("Authorization", "Basic " + Convert.ToBase64String("admin:admin"u8.ToArray()));
        using var response = await client.GetAsync("api/v1/me");
        await response.ErrorAsync(HttpStatusCode.Unauthorized, "invalid_authorization");
    }

    [Fact]
    public async Task Two_credentials_are_refused_never_guessed_between()
    {
        using var both = Host.Client(TenancyHost.AdminKey);
        both.DefaultRequestHeaders.Add("x-api-key", TenancyHost.AdminKey);
        await (await both.GetAsync("api/v1/me")).ErrorAsync(HttpStatusCode.BadRequest, "ambiguous_credentials");

        using var twice = Host.Client(null);
        twice.DefaultRequestHeaders.TryAddWithoutValidation("Authorization", ["Bearer " + TenancyHost.AdminKey, "Bearer maas_someone-elses-key-0123456789abcdef"]);
        await (await twice.GetAsync("api/v1/me")).ErrorAsync(HttpStatusCode.BadRequest, "ambiguous_credentials");

        using var keys = Host.Client(null);
        keys.DefaultRequestHeaders.TryAddWithoutValidation("x-api-key", [TenancyHost.AdminKey, TenancyHost.AdminKey]);
        await (await keys.GetAsync("api/v1/me")).ErrorAsync(HttpStatusCode.BadRequest, "ambiguous_credentials");
    }

    [Fact]
    public async Task Oversized_credentials_and_headers_are_refused()
    {
        using var longKey = Host.Client(null);
        longKey.DefaultRequestHeaders.TryAddWithoutValidation("Authorization", "Bearer maas_" + new string('a', 4000));
        await (await longKey.GetAsync("api/v1/me")).ErrorAsync(HttpStatusCode.Unauthorized, "invalid_api_key");

        using var huge = Host.Client(TenancyHost.AdminKey);
        huge.DefaultRequestHeaders.TryAddWithoutValidation("x-padding", new string('a', 64 * 1024));
        using var response = await huge.GetAsync("api/v1/me");
        Assert.Equal(HttpStatusCode.RequestHeaderFieldsTooLarge, response.StatusCode);
    }

    [Fact]
    public async Task Failed_authentication_touches_the_database_at_most_once_per_request()
    {
        using var unknown = Host.Client("maas_unknown-key-for-the-db-count-test-00000");
        using var malformed = Host.Client("nope");
        await SettleAsync();
        var before = Host.Keys.DatabaseLookups;
        for (var i = 0; i < 5; i++)
        {
            Assert.Equal(HttpStatusCode.Unauthorized, (await unknown.GetAsync("api/v1/me")).StatusCode);
            Assert.Equal(HttpStatusCode.Unauthorized, (await malformed.GetAsync("api/v1/me")).StatusCode);
        }

        // Ten refusals, one lookup: the malformed key never reaches the database, the unknown one is remembered.
        Assert.Equal(1, Host.Keys.DatabaseLookups - before);

        var (_, client) = (await Host.TenantWithKeyAsync(MaasScopes.ModelsRead)) is var (_, _, c) ? (0, c) : default;
        await SettleAsync();
        before = Host.Keys.DatabaseLookups;
        for (var i = 0; i < 20; i++)
        {
            Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("api/v1/me")).StatusCode);
        }

        Assert.True(Host.Keys.DatabaseLookups - before <= 1, "a valid key is read once, then served from the cache");
    }

    // Creating a key drops the caches at once and again at the next change poll (200 ms in tests): wait until that
    // poll has seen the latest change.
    private async Task SettleAsync()
    {
        var epoch = await Host.Server.Services.GetRequiredService<ITenancyStore>().GetEpochAsync(CancellationToken.None);
        var watcher = Host.Server.Services.GetServices<IHostedService>().OfType<TenancyChangeWatcher>().Single();
        await Conditions.WaitUntilAsync(() => watcher.SeenEpoch >= epoch, "the change poll has seen the latest key change");
    }

    [Fact]
    public async Task A_key_without_the_routes_scope_gets_403()
    {
        var (_, _, infer) = await Host.TenantWithKeyAsync(MaasScopes.Infer);
        var error = await (await infer.GetAsync("api/v1/tenants")).ErrorAsync(HttpStatusCode.Forbidden, "insufficient_scope");
        Assert.Contains("admin", (string?)error["message"], StringComparison.Ordinal);
        await (await infer.PostAsync("api/v1/keys", Api.Json("{}"))).ErrorAsync(HttpStatusCode.Forbidden, "insufficient_scope");
        await (await infer.GetAsync("metrics")).ErrorAsync(HttpStatusCode.Forbidden, "insufficient_scope");
        Assert.Equal(HttpStatusCode.OK, (await Host.Admin.GetAsync("metrics")).StatusCode);
    }

    [Fact]
    public async Task A_revoked_key_fails_on_its_next_request()
    {
        var tenant = await Host.CreateTenantAsync();
        var (id, secret) = await Host.CreateKeyAsync(tenant, [MaasScopes.Infer]);
        using var client = Host.Client(secret);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("api/v1/me")).StatusCode); // now cached

        Assert.Equal(HttpStatusCode.NoContent, (await Host.Admin.DeleteAsync($"api/v1/keys/{id}")).StatusCode);
        var error = await (await client.GetAsync("api/v1/me")).ErrorAsync(HttpStatusCode.Unauthorized, "api_key_revoked");
        Assert.DoesNotContain(secret, error.ToJsonString(), StringComparison.Ordinal);

        var key = await (await Host.Admin.GetAsync($"api/v1/keys/{id}")).JsonAsync(HttpStatusCode.OK);
        Assert.Equal("revoked", (string?)key["status"]);
        Assert.NotNull(key["revoked_at"]);

        // Revoking again changes nothing; an unknown id is a 404.
        Assert.Equal(HttpStatusCode.NoContent, (await Host.Admin.DeleteAsync($"api/v1/keys/{id}")).StatusCode);
        await (await Host.Admin.DeleteAsync("api/v1/keys/key_0000000000000000")).ErrorAsync(HttpStatusCode.NotFound, "key_not_found");
    }

    [Fact]
    public async Task An_expired_key_fails_with_its_own_code()
    {
        var tenant = await Host.CreateTenantAsync();
        using var held = Host.Clock.Hold(); // the key is used before it expires however slow the machine
        var expires = Host.Clock.GetUtcNow().AddSeconds(1.5);
        var (_, secret) = await Host.CreateKeyAsync(tenant, [MaasScopes.Infer], expiresAt: expires);
        using var client = Host.Client(secret);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("api/v1/me")).StatusCode);
        Host.Clock.Advance(expires - Host.Clock.GetUtcNow() + TimeSpan.FromMilliseconds(100));
        await (await client.GetAsync("api/v1/me")).ErrorAsync(HttpStatusCode.Unauthorized, "api_key_expired");

        await (await Host.Admin.PostAsync("api/v1/keys", Api.Json($$"""{"name": "x", "tenant": "{{tenant}}", "scopes": ["infer"], "expires_at": "2000-01-01T00:00:00Z"}""")))
            .ErrorAsync(HttpStatusCode.BadRequest, "invalid_expires_at");
    }

    [Theory]
    [InlineData("""{"name": "k", "tenant": "default", "scopes": []}""", "invalid_scopes")]
    [InlineData("""{"name": "k", "tenant": "default", "scopes": ["root"]}""", "invalid_scopes")]
    [InlineData("""{"name": "k", "tenant": "default", "scopes": ["infer", null]}""", "invalid_scopes")]
    [InlineData("""{"name": "k", "tenant": "default", "scopes": ["infer"], "models": [null]}""", "invalid_models")]
    [InlineData("""{"name": "", "tenant": "default", "scopes": ["infer"]}""", "invalid_key_name")]
    [InlineData("""{"name": "k", "tenant": "default", "scopes": ["infer"], "models": ["a/b/c"]}""", "invalid_models")]
    [InlineData("""{"name": "k", "tenant": "default", "scopes": ["infer"], "limits": {"requests_per_minute": 0}}""", "invalid_limits")]
    [InlineData("""{"name": "k", "tenant": "default", "scopes": ["infer"], "limitz": {}}""", "invalid_json")]
    [InlineData("""{"name": "k", "tenant": "Not A Tenant", "scopes": ["infer"]}""", "invalid_name")]
    public async Task Bad_key_requests_get_400_with_a_code(string body, string code) =>
        await (await Host.Admin.PostAsync("api/v1/keys", Api.Json(body))).ErrorAsync(HttpStatusCode.BadRequest, code);

    [Fact]
    public async Task A_key_an_older_server_stored_with_nulls_authenticates_with_no_more_than_it_names()
    {
        // Older servers stored a null in scopes or models as sent; such a key failed every request with 503.
        var secret = ApiKeySecrets.Generate();
        var salt = ApiKeySecrets.NewSalt();
        var id = ApiKeySecrets.NewId();
        await Host.Server.Services.GetRequiredService<ITenancyStore>().CreateKeyAsync(
            new ApiKey
            {
                Id = id,
                Prefix = ApiKeySecrets.PrefixOf(secret),
                Name = "stored-with-nulls",
                Tenant = Tenant.DefaultName,
                Scopes = [MaasScopes.ModelsRead, null!],
                Models = [null!],
                CreatedBy = "tests",
                CreatedAt = Host.Clock.GetUtcNow(),
                Salt = salt,
                Hash = ApiKeySecrets.Hash(secret, salt),
            },
            CancellationToken.None);

        using var client = Host.Client(secret);
        var me = await (await client.GetAsync("api/v1/me")).JsonAsync(HttpStatusCode.OK);
        Assert.Equal([MaasScopes.ModelsRead], me["scopes"]!.AsArray().Select(s => (string?)s));

        // The null model pattern matches no model: the key is not widened to every model.
        var models = await (await client.GetAsync("api/v1/models")).JsonAsync(HttpStatusCode.OK);
        Assert.Empty(models["models"]!.AsArray());
        Assert.Equal(0, (int?)models["total"]);
    }

    [Fact]
    public async Task Tenants_are_created_listed_and_limited_by_admins()
    {
        var name = await Host.CreateTenantAsync(limits: """{"requests_per_minute": 100}""");
        await (await Host.Admin.PostAsync("api/v1/tenants", Api.Json($$"""{"name": "{{name}}"}"""))).ErrorAsync(HttpStatusCode.Conflict, "tenant_exists");
        await (await Host.Admin.PostAsync("api/v1/tenants", Api.Json("""{"name": "../etc"}"""))).ErrorAsync(HttpStatusCode.BadRequest, "invalid_name");
        await (await Host.Admin.PostAsync("api/v1/keys", Api.Json("""{"name": "k", "tenant": "no-such-tenant", "scopes": ["infer"]}""")))
            .ErrorAsync(HttpStatusCode.NotFound, "tenant_not_found");

        var list = await (await Host.Admin.GetAsync("api/v1/tenants")).JsonAsync(HttpStatusCode.OK);
        var names = list["tenants"]!.AsArray().Select(t => (string?)t!["name"]).ToArray();
        Assert.Contains(Tenant.DefaultName, names);
        Assert.Contains(name, names);

        var patched = await (await Host.Admin.PatchAsync($"api/v1/tenants/{name}", Api.Json("""{"limits": {"concurrent_requests": 4}}""")))
            .JsonAsync(HttpStatusCode.OK);
        Assert.Equal(4, (int?)patched["limits"]!["concurrent_requests"]);
        Assert.Null(patched["limits"]!["requests_per_minute"]);

        // Limits list the limits only, not the server's derived flags (is_empty, has_budget), for tenants and keys alike.
        Assert.Equal(["concurrent_requests"], patched["limits"]!.AsObject().Select(p => p.Key));
        var shown = await (await Host.Admin.GetAsync($"api/v1/tenants/{name}")).JsonAsync(HttpStatusCode.OK);
        Assert.Equal(["concurrent_requests"], shown["limits"]!.AsObject().Select(p => p.Key));
        var key = await (await Host.Admin.PostAsync("api/v1/keys", Api.Json($$"""{"name": "k", "tenant": "{{name}}", "scopes": ["infer"], "limits": {"daily_tokens": 10} }""")))
            .JsonAsync(HttpStatusCode.Created);
        Assert.Equal(["daily_tokens"], key["limits"]!.AsObject().Select(p => p.Key));
    }
}

public sealed class RawHeaderTests(TenancyHostFixture fixture) : IClassFixture<TenancyHostFixture>
{
    [Fact]
    public async Task Two_authorization_lines_on_the_wire_are_refused()
    {
        // HttpClient folds repeated headers into one line; a raw request sends two separate lines.
        using var tcp = new System.Net.Sockets.TcpClient();
        await tcp.ConnectAsync(fixture.Host.Server.BaseAddress.Host, fixture.Host.Server.BaseAddress.Port);
        await using var stream = tcp.GetStream();
        var request =
            "GET /api/v1/me HTTP/1.1\r\n" +
            $"Host: {fixture.Host.Server.BaseAddress.Authority}\r\n" +
            $"Authorization: Bearer {TenancyHost.AdminKey}\r\n" +
            "Authorization: Bearer maas_another-key-on-a-second-line-0000\r\n" +
            "Connection: close\r\n\r\n";
        await stream.WriteAsync(System.Text.Encoding.ASCII.GetBytes(request));
        using var reader = new StreamReader(stream);
        var response = await reader.ReadToEndAsync();
        Assert.StartsWith("HTTP/1.1 400", response, StringComparison.Ordinal);
        Assert.Contains("ambiguous_credentials", response, StringComparison.Ordinal);
    }
}
