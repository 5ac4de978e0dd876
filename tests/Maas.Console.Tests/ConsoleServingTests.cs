using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.RegularExpressions;
using Maas.Server;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;

namespace Maas.Console.Tests;

/// <summary>How the console's files are served (no browser): public, strict CSP, caching by name, and the history route's scopes.</summary>
public sealed partial class ConsoleServingTests(ConsoleServingTests.Server server) : IClassFixture<ConsoleServingTests.Server>
{
    [Fact]
    public async Task The_page_is_public_never_cached_stale_and_under_a_strict_csp()
    {
        using var anonymous = new HttpClient { BaseAddress = server.BaseAddress };
        using var response = await anonymous.GetAsync("/");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/html", response.Content.Headers.ContentType?.MediaType);
        Assert.True(response.Headers.CacheControl?.NoCache, "the page must be revalidated, so a new build shows at once");
        var csp = string.Join(";", response.Headers.GetValues("Content-Security-Policy"));
        Assert.Contains("script-src 'self'", csp, StringComparison.Ordinal);
        Assert.Contains("style-src 'self'", csp, StringComparison.Ordinal);
        Assert.Contains("frame-ancestors 'none'", csp, StringComparison.Ordinal);
        Assert.DoesNotContain("unsafe-inline", csp, StringComparison.Ordinal);
        Assert.Equal("nosniff", response.Headers.GetValues("X-Content-Type-Options").Single());
        var html = await response.Content.ReadAsStringAsync();
        Assert.DoesNotMatch(InlineScript(), html); // every script is a file of this origin
        Assert.DoesNotContain("style=", html, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Hashed_bundles_are_immutable_and_answer_304_to_their_etag()
    {
        using var anonymous = new HttpClient { BaseAddress = server.BaseAddress };
        var html = await anonymous.GetStringAsync("/");
        var bundles = Bundle().Matches(html).Select(m => m.Groups[1].Value).ToList();
        Assert.Equal(2, bundles.Count); // the script and the stylesheet
        foreach (var path in bundles)
        {
            using var first = await anonymous.GetAsync(path);
            Assert.Equal(HttpStatusCode.OK, first.StatusCode);
            Assert.True(first.Headers.CacheControl is { Public: true, MaxAge.TotalDays: >= 365 }, $"{path}: {first.Headers.CacheControl}");
            Assert.Contains("immutable", first.Headers.CacheControl!.Extensions.Select(e => e.Name));
            Assert.True((await first.Content.ReadAsByteArrayAsync()).Length > 1000, $"{path} is too small to be the bundle");

            using var again = new HttpRequestMessage(HttpMethod.Get, path);
            again.Headers.IfNoneMatch.Add(first.Headers.ETag!);
            using var revalidated = await anonymous.SendAsync(again);
            Assert.Equal(HttpStatusCode.NotModified, revalidated.StatusCode);
        }

        using var missing = await anonymous.GetAsync("/ui/app-NOTTHERE.js");
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        Assert.Equal("file_not_found", (await missing.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("error").GetProperty("code").GetString());
    }

    [Fact]
    public async Task The_metrics_history_needs_a_reading_key_and_hides_the_server_series_from_non_admins()
    {
        using var anonymous = new HttpClient { BaseAddress = server.BaseAddress };
        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync("/api/v1/metrics/history")).StatusCode);

        using var admin = server.Client(ConsoleRun.AdminKey);
        var full = await admin.GetFromJsonAsync<JsonElement>("/api/v1/metrics/history");
        Assert.True(full.GetProperty("metrics_enabled").GetBoolean());
        Assert.Equal(JsonValueKind.Object, full.GetProperty("server").ValueKind);

        var reader = await server.CreateKeyAsync("reader", ["models:read"]);
        using var readerClient = server.Client(reader);
        var partial = await readerClient.GetFromJsonAsync<JsonElement>("/api/v1/metrics/history");
        Assert.True(!partial.TryGetProperty("server", out var series) || series.ValueKind == JsonValueKind.Null, "a models:read key must not see the server-wide series");
        Assert.Equal(JsonValueKind.Array, partial.GetProperty("times").ValueKind);

        var caller = await server.CreateKeyAsync("caller", ["infer"]);
        using var callerClient = server.Client(caller);
        using var refused = await callerClient.GetAsync("/api/v1/metrics/history");
        Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
    }

    [GeneratedRegex("<script(?![^>]*\\bsrc=)[^>]*>")]
    private static partial Regex InlineScript();

    [GeneratedRegex("(?:src|href)=\"(/ui/(?:app|style)-[A-Z0-9]{8}\\.(?:js|css))\"")]
    private static partial Regex Bundle();

    /// <summary>A real MaaS on loopback without demo models, for the serving tests.</summary>
    public sealed class Server : IAsyncLifetime
    {
        private readonly string _data = Path.Combine(Path.GetTempPath(), "maas-console-serving-" + Guid.NewGuid().ToString("N")[..8]);
        private WebApplication? _app;

        /// <summary>Where it listens.</summary>
        public Uri BaseAddress { get; private set; } = null!;

        /// <summary>A client that sends <paramref name="key"/>.</summary>
        public HttpClient Client(string key)
        {
            var client = new HttpClient { BaseAddress = BaseAddress };
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
            return client;
        }

        /// <summary>Creates a key with <paramref name="scopes"/> through the API and returns its secret.</summary>
        public async Task<string> CreateKeyAsync(string name, string[] scopes)
        {
            using var admin = Client(ConsoleRun.AdminKey);
            using var response = await admin.PostAsJsonAsync("/api/v1/keys", new { name, scopes });
            response.EnsureSuccessStatusCode();
            return (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("key").GetString()!;
        }

        /// <inheritdoc />
        public async Task InitializeAsync()
        {
            _app = MaasApp.Create(
            [
                "--urls", "http://127.0.0.1:0", $"--Maas:DataDir={_data}", $"--Maas:Auth:AdminKey={ConsoleRun.AdminKey}",
                "--Maas:Inference:Demo=false", "--Maas:Inference:GrpcUrl=", "--Maas:Shutdown:DrainSeconds=0", "--Logging:LogLevel:Default=Warning",
            ]);
            await _app.StartAsync();
            BaseAddress = new Uri(_app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());
        }

        /// <inheritdoc />
        public async Task DisposeAsync()
        {
            if (_app is not null)
            {
                await _app.StopAsync();
                await _app.DisposeAsync();
            }

            try
            {
                Directory.Delete(_data, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }
}
