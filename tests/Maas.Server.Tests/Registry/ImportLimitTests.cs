using System.Net;
using Maas.Server.Tests.Support;
using Maas.Testing;

namespace Maas.Server.Tests.Registry;

/// <summary>Imports are bounded: a cap on queued and running imports, and an overall deadline per import.</summary>
public sealed class ImportLimitTests
{
    // 200 chunks of 64 KiB, one a second: a source that would take minutes and never stalls long enough to be cut.
    private static ServedFile Drip() => new(new byte[200 * 64 * 1024]) { ChunkDelay = TimeSpan.FromSeconds(1) };

    [Fact]
    public async Task Imports_past_the_queue_limit_get_429_naming_it_and_a_slot_frees_when_one_ends()
    {
        await using var files = await LoopbackFileServer.StartAsync();
        await using var server = await MaasTestServer.StartAsync(settings: new Dictionary<string, string?>
        {
            ["Maas:Registry:ImportAllowPrivateNetworks"] = "true",
            ["Maas:Registry:MaxConcurrentImports"] = "1",
            ["Maas:Registry:MaxQueuedImports"] = "2",
        });
        var client = server.Client;
        var name = await client.CreateModelAsync();
        var slow = files.Add($"/files/{Names.Unique("d")}/m.onnx", Drip());
        var jobs = new List<string>();
        for (var i = 0; i < 2; i++)
        {
            using var started = await client.PostAsync($"api/v1/models/{name}/versions:import", Api.Json($$"""{"url": "{{slow}}"}"""));
            jobs.Add((string)(await started.JsonAsync(HttpStatusCode.Accepted))["id"]!);
        }

        using (var refused = await client.PostAsync($"api/v1/models/{name}/versions:import", Api.Json($$"""{"url": "{{slow}}"}""")))
        {
            var error = await refused.ErrorAsync(HttpStatusCode.TooManyRequests, "import_queue_full");
            Assert.Equal(2, (int?)error["limit"]);
            Assert.Contains("Maas:Registry:MaxQueuedImports", (string?)error["message"], StringComparison.Ordinal);
            Assert.NotNull(refused.Headers.RetryAfter);
        }

        foreach (var id in jobs)
        {
            using var cancel = await client.DeleteAsync($"api/v1/jobs/{id}");
            Assert.Equal("cancelled", (string?)(await client.WaitForJobAsync(id))["status"]);
        }

        // A cancelled job frees its place in the queue as it ends (its clean-up may trail its status by a moment).
        var again = await Conditions.ReadUntilAsync(
            async Task<HttpResponseMessage?> () =>
            {
                var response = await client.PostAsync($"api/v1/models/{name}/versions:import", Api.Json($$"""{"url": "{{slow}}"}"""));
                if (response.StatusCode == HttpStatusCode.TooManyRequests)
                {
                    response.Dispose();
                    return null;
                }

                return response;
            },
            response => response is not null,
            "an import is taken again");
        var last = (string)(await again!.JsonAsync(HttpStatusCode.Accepted))["id"]!;
        again.Dispose();
        using var cancelLast = await client.DeleteAsync($"api/v1/jobs/{last}");
        await client.WaitForJobAsync(last);
    }

    [Fact]
    public async Task An_import_that_outlasts_its_deadline_fails_with_import_timeout()
    {
        await using var files = await LoopbackFileServer.StartAsync();
        await using var server = await MaasTestServer.StartAsync(settings: new Dictionary<string, string?>
        {
            ["Maas:Registry:ImportAllowPrivateNetworks"] = "true",
            ["Maas:Registry:ImportTimeoutSeconds"] = "2",
        });
        var client = server.Client;
        var name = await client.CreateModelAsync();
        var slow = files.Add($"/files/{Names.Unique("d")}/m.onnx", Drip());
        using var started = await client.PostAsync($"api/v1/models/{name}/versions:import", Api.Json($$"""{"url": "{{slow}}"}"""));
        var job = await client.WaitForJobAsync((string)(await started.JsonAsync(HttpStatusCode.Accepted))["id"]!);

        Assert.Equal("failed", (string?)job["status"]);
        Assert.Equal("import_timeout", (string?)job["error"]!["code"]);
        Assert.Contains("within 2 seconds (Maas:Registry:ImportTimeoutSeconds)", (string?)job["error"]!["message"], StringComparison.Ordinal);
    }
}
