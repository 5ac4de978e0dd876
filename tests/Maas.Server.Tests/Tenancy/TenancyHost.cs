using System.Net;
using System.Text.Json.Nodes;
using Maas.Core.Tenancy;
using Maas.Server.Auth;
using Maas.Server.Tests.Support;
using Maas.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Maas.Server.Tests.Tenancy;

/// <summary>A real server with tenancy on, an admin key the test knows, and helpers to make tenants and keys.</summary>
public sealed class TenancyHost : IAsyncDisposable
{
    /// <summary>The admin key every test server installs (Maas:Auth:AdminKey, as MAAS_ADMIN_KEY does).</summary>
    public const string AdminKey = MaasTestServer.AdminKey;

    private TenancyHost(MaasTestServer server, AdjustableClock clock, CapturedLogs logs)
    {
        Server = server;
        Clock = clock;
        Logs = logs;
        Admin = Client(AdminKey);
    }

    /// <summary>What the server logged, for a failing test to show.</summary>
    public CapturedLogs Logs { get; }

    /// <summary>The logged errors, one per line, for an assertion's message.</summary>
    public string Errors() => string.Join("\n", Logs.Lines.Where(l => l.Level >= LogLevel.Error).Select(l => $"{l.Category}: {l.Message}"));

    /// <summary>The server.</summary>
    public MaasTestServer Server { get; }

    /// <summary>The server's clock (rate windows, key expiry, failed-attempt windows): the system's until a test moves it.</summary>
    public AdjustableClock Clock { get; }

    /// <summary>A client authenticated with the admin key.</summary>
    public HttpClient Admin { get; }

    /// <summary>The settings of a tenancy test server (more may be added per test).</summary>
    public static Dictionary<string, string?> Settings(IReadOnlyDictionary<string, string?>? extra = null)
    {
        var settings = new Dictionary<string, string?>
        {
            ["Maas:Usage:FlushMs"] = "20",
            ["Maas:Auth:ChangePollMs"] = "200",
        };
        foreach (var (key, value) in extra ?? new Dictionary<string, string?>())
        {
            settings[key] = value;
        }

        return settings;
    }

    /// <summary>Starts a host.</summary>
    public static async Task<TenancyHost> StartAsync(IReadOnlyDictionary<string, string?>? settings = null, TestDatabase? database = null, string? dataDir = null)
    {
        var clock = new AdjustableClock();
        var logs = new CapturedLogs();
        var server = await MaasTestServer.StartAsync(
            database,
            Settings(settings),
            dataDir,
            builder =>
            {
                builder.Services.AddSingleton<TimeProvider>(clock);
                builder.Logging.AddProvider(logs);
            },
            ownsDatabase: false);
        return new(server, clock, logs);
    }

    /// <summary>A client that sends <paramref name="key"/> as a bearer token (none when null).</summary>
    public HttpClient Client(string? key) => Server.CreateClient(key);

    /// <summary>Creates a tenant (optionally with limits JSON) and returns its name.</summary>
    public async Task<string> CreateTenantAsync(string? name = null, string? limits = null)
    {
        name ??= "t-" + Guid.NewGuid().ToString("n")[..10];
        var body = limits is null ? $$"""{"name": "{{name}}"}""" : $$"""{"name": "{{name}}", "limits": {{limits}}}""";
        using var response = await Admin.PostAsync("api/v1/tenants", Api.Json(body));
        await response.JsonAsync(HttpStatusCode.Created);
        return name;
    }

    /// <summary>Creates a key and returns its id and secret.</summary>
    public async Task<(string Id, string Secret)> CreateKeyAsync(
        string tenant, string[] scopes, string[]? models = null, string? limits = null, DateTimeOffset? expiresAt = null, string name = "test")
    {
        var body = new JsonObject
        {
            ["name"] = name,
            ["tenant"] = tenant,
            ["scopes"] = new JsonArray(scopes.Select(s => (JsonNode)s).ToArray()),
            ["models"] = new JsonArray((models ?? []).Select(m => (JsonNode)m).ToArray()),
        };
        if (limits is not null)
        {
            body["limits"] = JsonNode.Parse(limits);
        }

        if (expiresAt is { } e)
        {
            body["expires_at"] = e.UtcDateTime.ToString("O");
        }

        using var response = await Admin.PostAsync("api/v1/keys", Api.Json(body.ToJsonString()));
        var key = await response.JsonAsync(HttpStatusCode.Created);
        return ((string)key["id"]!, (string)key["key"]!);
    }

    /// <summary>A new tenant with one key of <paramref name="scopes"/>; returns the tenant, key id and a client using it.</summary>
    public async Task<(string Tenant, string KeyId, HttpClient Client)> TenantWithKeyAsync(params string[] scopes)
    {
        var tenant = await CreateTenantAsync();
        var (id, secret) = await CreateKeyAsync(tenant, scopes.Length == 0 ? [MaasScopes.Infer] : scopes);
        return (tenant, id, Client(secret));
    }

    /// <summary>The auth services of the running server.</summary>
    public ApiKeyAuthenticator Keys => Server.Services.GetRequiredService<ApiKeyAuthenticator>();

    /// <summary>
    /// Holds the server's clock still at the start of a fresh rate window (windows are aligned to multiples of their
    /// length), so that a burst falls in one window however slow the machine; disposing the scope lets it run on.
    /// </summary>
    public IDisposable HoldAtFreshWindow(int windowMs)
    {
        var held = Clock.Hold();
        Clock.AdvanceToWindowStart(TimeSpan.FromMilliseconds(windowMs));
        return held;
    }

    /// <summary>Usage totals of one key (after the server wrote everything it recorded).</summary>
    public async Task<JsonNode> UsageTotalsAsync(string query)
    {
        using var response = await Admin.GetAsync("api/v1/usage?" + query);
        return (await response.JsonAsync(HttpStatusCode.OK))["totals"]!;
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        Admin.Dispose();
        await Server.DisposeAsync();
    }
}
