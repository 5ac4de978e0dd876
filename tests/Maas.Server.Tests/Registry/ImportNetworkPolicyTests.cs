using System.Net;
using Maas.Server.Tests.Support;

namespace Maas.Server.Tests.Registry;

/// <summary>Two servers: one with the default import policy (public addresses only), one allowing only "localhost".</summary>
public sealed class ImportPolicyServers : IAsyncLifetime
{
    /// <summary>The "outside" host (on loopback, which the default policy refuses).</summary>
    public LoopbackFileServer Files { get; private set; } = null!;

    /// <summary>A server with the default policy.</summary>
    public MaasTestServer PublicOnly { get; private set; } = null!;

    /// <summary>A server that allows private networks but only the host "localhost".</summary>
    public MaasTestServer LocalhostOnly { get; private set; } = null!;

    /// <inheritdoc />
    public async Task InitializeAsync()
    {
        Files = await LoopbackFileServer.StartAsync();
        PublicOnly = await MaasTestServer.StartAsync();
        LocalhostOnly = await MaasTestServer.StartAsync(settings: new Dictionary<string, string?>
        {
            ["Maas:Registry:ImportAllowPrivateNetworks"] = "true",
            ["Maas:Registry:ImportAllowedHosts:0"] = "localhost",
            ["Maas:Registry:ImportAllowedHosts:1"] = "*.models.example",
        });
    }

    /// <inheritdoc />
    public async Task DisposeAsync()
    {
        await PublicOnly.DisposeAsync();
        await LocalhostOnly.DisposeAsync();
        await Files.DisposeAsync();
    }
}

/// <summary>Imports cannot be pointed at the server's own network (SSRF) nor at hosts outside the allow-list.</summary>
public sealed class ImportNetworkPolicyTests(ImportPolicyServers servers) : IClassFixture<ImportPolicyServers>
{
    [Fact]
    public async Task By_default_imports_from_loopback_private_and_metadata_addresses_are_refused_at_once()
    {
        var client = servers.PublicOnly.Client;
        var name = await client.CreateModelAsync();
        var served = servers.Files.Add($"/files/{Names.Unique("f")}/m.onnx", new ServedFile(TestArtifacts.Onnx(seed: 71)));
        var port = served.Port;
        foreach (var url in new[]
        {
            served.ToString(),
            $"http://localhost:{port}/files/m.onnx",
            $"http://[::1]:{port}/files/m.onnx",
            "http://169.254.169.254/latest/meta-data/m.onnx",
            "http://10.1.2.3/m.onnx",
            "http://192.168.0.10/m.onnx",
            "http://[fd00::1]/m.onnx",
            $"http://[::ffff:127.0.0.1]:{port}/files/m.onnx", // IPv4-mapped
            $"http://[::ffff:0:7f00:1]:{port}/files/m.onnx", // IPv4-translated
            $"http://[64:ff9b::7f00:1]:{port}/files/m.onnx", // NAT64 of 127.0.0.1
            "http://[64:ff9b::a9fe:a9fe]/m.onnx", // NAT64 of the metadata address
            "http://[2002:a00:1::1]/m.onnx", // 6to4 of 10.0.0.1
            "http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/m.onnx", // Teredo
        })
        {
            using var response = await client.PostAsync($"api/v1/models/{name}/versions:import", Api.Json($$"""{"url": "{{url}}"}"""));
            var error = await response.ErrorAsync(HttpStatusCode.BadRequest, "import_source_not_allowed");
            var message = (string?)error["message"];
            Assert.Contains("ImportAllowPrivateNetworks", message, StringComparison.Ordinal);

            // The error names the host the caller gave, never the internal address it resolved to.
            if (url.Contains("localhost", StringComparison.Ordinal))
            {
                Assert.DoesNotContain("127.0.0.1", message, StringComparison.Ordinal);
                Assert.DoesNotContain("::1", message, StringComparison.Ordinal);
            }
        }

        // Nothing was fetched and no version was made.
        Assert.DoesNotContain(servers.Files.Requests, r => r.Path == served.AbsolutePath || r.Path == "/files/m.onnx");
        using var versions = await client.GetAsync($"api/v1/models/{name}/versions");
        Assert.Empty((await versions.JsonAsync(HttpStatusCode.OK))["versions"]!.AsArray());
    }

    [Fact]
    public async Task The_host_allow_list_holds_for_the_first_url_and_for_every_redirect()
    {
        var client = servers.LocalhostOnly.Client;
        var name = await client.CreateModelAsync();
        var onnx = TestArtifacts.Onnx(seed: 72);
        var onIp = servers.Files.Add($"/files/{Names.Unique("f")}/m.onnx", new ServedFile(onnx));
        var port = onIp.Port;

        // 127.0.0.1 is not "localhost" by name: refused before any job starts.
        using (var refused = await client.PostAsync($"api/v1/models/{name}/versions:import", Api.Json($$"""{"url": "{{onIp}}"}""")))
        {
            var error = await refused.ErrorAsync(HttpStatusCode.BadRequest, "import_source_not_allowed");
            Assert.Contains("ImportAllowedHosts", (string?)error["message"], StringComparison.Ordinal);
        }

        // An allowed host that redirects to a host off the list: the job fails at the redirect, without fetching it.
        var hop = $"/files/{Names.Unique("r")}/m.onnx";
        servers.Files.Add(hop, new ServedFile([]) { RedirectTo = onIp.ToString() });
        using (var started = await client.PostAsync($"api/v1/models/{name}/versions:import", Api.Json($$"""{"url": "http://localhost:{{port}}{{hop}}"}""")))
        {
            var job = await started.JsonAsync(HttpStatusCode.Accepted);
            var done = await client.WaitForJobAsync((string)job["id"]!);
            Assert.Equal("failed", (string?)done["status"]);
            Assert.Equal("import_source_not_allowed", (string?)done["error"]!["code"]);
        }

        Assert.DoesNotContain(servers.Files.Requests, r => r.Path == onIp.AbsolutePath);

        // The allowed host itself works.
        var onLocalhost = new UriBuilder(onIp) { Host = "localhost" }.Uri;
        using (var started = await client.PostAsync($"api/v1/models/{name}/versions:import", Api.Json($$"""{"url": "{{onLocalhost}}"}""")))
        {
            var job = await started.JsonAsync(HttpStatusCode.Accepted);
            var done = await client.WaitForJobAsync((string)job["id"]!);
            Assert.True((string?)done["status"] == "succeeded", done.ToJsonString());
        }
    }
}
