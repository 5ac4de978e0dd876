using System.Net.Http.Headers;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;

namespace Maas.Server.Tests.Support;

/// <summary>
/// The real MaaS server, in this process, on Kestrel at http://127.0.0.1:&lt;free port&gt; with its own temporary
/// data folder: tests talk to it over real HTTP. Built with <see cref="MaasApp.Create"/>, so it is the same app
/// that <c>dotnet run</c> starts, with settings passed as command-line arguments.
/// </summary>
/// <remarks>
/// Defaults that keep tests independent and fast: no demo model (Maas:Inference:Demo=false), gRPC off
/// (Maas:Inference:GrpcUrl empty), and a known admin key (<see cref="AdminKey"/>) that <see cref="Client"/> sends;
/// pass other values in <c>settings</c> to change them.
/// </remarks>
public sealed class MaasTestServer : IAsyncDisposable
{
    private readonly TempDirectory? _ownedDataDir;
    private readonly TestDatabase? _ownedDatabase;

    private MaasTestServer(WebApplication app, Uri baseAddress, string dataDir, TempDirectory? ownedDataDir, TestDatabase? ownedDatabase)
    {
        App = app;
        BaseAddress = baseAddress;
        DataDir = dataDir;
        _ownedDataDir = ownedDataDir;
        _ownedDatabase = ownedDatabase;
        Client = CreateClient();
    }

    /// <summary>The admin key every test server installs (Maas:Auth:AdminKey) and its default client sends.</summary>
    public const string AdminKey = "maas-test-admin-key-0123456789abcdef";

    /// <summary>The settings every test server gets unless the caller overrides them.</summary>
    public static IReadOnlyDictionary<string, string?> DefaultSettings { get; } = new Dictionary<string, string?>
    {
        ["Maas:Inference:Demo"] = "false",
        ["Maas:Inference:GrpcUrl"] = "",
        ["Maas:Auth:AdminKey"] = AdminKey,
        ["Maas:Shutdown:DrainSeconds"] = "0",
        ["Logging:LogLevel:Default"] = "Warning",
        // Training at normal priority: beside the other tests' servers on a busy host, the default nice 10 starved the
        // training thread (a one-second fit ran past three minutes with three busy processes beside it). Training's
        // own nice value is tested by TrainingNiceTests, on a worker process.
        ["Maas:Training:Nice"] = "0",
    };

    /// <summary>The running app (its <see cref="WebApplication.Services"/> reach every service).</summary>
    public WebApplication App { get; }

    /// <summary>The services of the running app.</summary>
    public IServiceProvider Services => App.Services;

    /// <summary>Where the server listens, e.g. http://127.0.0.1:41234/.</summary>
    public Uri BaseAddress { get; }

    /// <summary>The server's data folder.</summary>
    public string DataDir { get; }

    /// <summary>A client for <see cref="BaseAddress"/> that sends <see cref="AdminKey"/> (no timeout: tests bound their own waits).</summary>
    public HttpClient Client { get; }

    /// <summary>
    /// Starts a server. <paramref name="database"/> picks SQLite (default) or PostgreSQL; <paramref name="settings"/>
    /// are configuration keys ("Maas:Registry:MaxUploadBytes" = "1024"); <paramref name="dataDir"/> reuses a folder
    /// (a restart); <paramref name="configure"/> changes services before the app is built.
    /// </summary>
    public static async Task<MaasTestServer> StartAsync(
        TestDatabase? database = null,
        IReadOnlyDictionary<string, string?>? settings = null,
        string? dataDir = null,
        Action<WebApplicationBuilder>? configure = null,
        bool ownsDatabase = false)
    {
        var owned = dataDir is null ? new TempDirectory("maas-server") : null;
        var folder = dataDir ?? owned!.Path;
        var all = new Dictionary<string, string?>(DefaultSettings);
        foreach (var (key, value) in database?.Settings ?? new Dictionary<string, string?>())
        {
            all[key] = value;
        }

        foreach (var (key, value) in settings ?? new Dictionary<string, string?>())
        {
            all[key] = value;
        }

        all["Maas:DataDir"] = folder;
        var args = new List<string> { "--urls", "http://127.0.0.1:0" };
        args.AddRange(all.Select(kv => $"--{kv.Key}={kv.Value}"));
        var app = MaasApp.Create(args.ToArray(), configure);
        try
        {
            await app.StartAsync();
        }
        catch
        {
            await app.DisposeAsync();
            owned?.Dispose();
            throw;
        }

        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return new MaasTestServer(app, new Uri(address.TrimEnd('/') + "/"), folder, owned, ownsDatabase ? database : null);
    }

    /// <summary>A new client for the server that sends <paramref name="apiKey"/> as a bearer token (none when null).</summary>
    public HttpClient CreateClient(string? apiKey = AdminKey) => CreateClient(BaseAddress, apiKey);

    /// <summary>A client for <paramref name="baseAddress"/> that sends <paramref name="apiKey"/> as a bearer token (none when null).</summary>
    public static HttpClient CreateClient(Uri baseAddress, string? apiKey = AdminKey)
    {
        var client = new HttpClient { BaseAddress = baseAddress, Timeout = Timeout.InfiniteTimeSpan };
        if (apiKey is not null)
        {
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", apiKey);
        }

        return client;
    }

    /// <summary>A new tenant (a unique name) and the client of a new key of it with <paramref name="scopes"/>.</summary>
    public async Task<(HttpClient Client, string Tenant)> TenantClientAsync(params string[] scopes)
    {
        var tenant = await NewTenantAsync();
        return (CreateClient(await NewKeyAsync(tenant, scopes)), tenant);
    }

    /// <summary>Creates a tenant with a unique name (as the admin) and returns the name.</summary>
    public async Task<string> NewTenantAsync()
    {
        var tenant = Names.Unique("t");
        await CreatedAsync("api/v1/tenants", new { name = tenant });
        return tenant;
    }

    /// <summary>Creates a key of <paramref name="tenant"/> with <paramref name="scopes"/> (and, when given, only <paramref name="models"/>); returns its secret.</summary>
    public async Task<string> NewKeyAsync(string tenant, IEnumerable<string> scopes, IEnumerable<string>? models = null)
    {
        var key = await CreatedAsync("api/v1/keys", models is null ? new { name = "k", tenant, scopes } : new { name = "k", tenant, scopes, models });
        return key.GetProperty("key").GetString()!;
    }

    // Posts as the admin and expects 201; this file is shared with test projects that do not have the Api helpers.
    private async Task<JsonElement> CreatedAsync(string path, object body)
    {
        using var content = new StringContent(JsonSerializer.Serialize(body), System.Text.Encoding.UTF8, "application/json");
        using var response = await Client.PostAsync(path, content);
        var text = await response.Content.ReadAsStringAsync();
        if (response.StatusCode != System.Net.HttpStatusCode.Created)
        {
            throw new InvalidOperationException($"POST {path} answered {(int)response.StatusCode}, not 201: {text}");
        }

        return JsonDocument.Parse(text).RootElement.Clone();
    }

    /// <summary>Stops the server; the data folder stays for a restart when the caller owns it.</summary>
    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        try
        {
            using var stopping = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            await App.StopAsync(stopping.Token);
        }
        finally
        {
            await App.DisposeAsync();
            if (_ownedDatabase is not null)
            {
                await _ownedDatabase.DisposeAsync();
            }

            _ownedDataDir?.Dispose();
        }
    }

    /// <summary>A raw octet-stream body with the file name header, as the upload route takes it.</summary>
    public static HttpContent Artifact(Stream content, string fileName)
    {
        var body = new StreamContent(content, 1 << 20);
        body.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        body.Headers.Add("X-Maas-Filename", fileName);
        return body;
    }

    /// <summary>A raw octet-stream body from bytes.</summary>
    public static HttpContent Artifact(byte[] content, string fileName) => Artifact(new MemoryStream(content), fileName);
}
