using System.Diagnostics;
using System.Net;
using System.Text;
using Maas.Server.Tests.Support;
using Maas.Testing;

namespace Maas.Server.Tests.Training;

/// <summary>A training worker in its own process holds a tenant's results to the tenant's own storage quota, as the server does.</summary>
public sealed class WorkerStorageQuotaTests
{
    [Theory]
    [InlineData("Maas:ServingLimits:MaxThreads", "0")]
    [InlineData("Maas:Registry:MaxUploadBytes", "0")]
    [InlineData("Maas:Instances:LapseMs", "100")]
    public async Task A_separate_worker_refuses_registry_settings_the_server_refuses(string key, string value)
    {
        using var dir = new TempDirectory("maas-worker-config");
        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in new[] { MaasServerProcess.ServerDll(), "worker", $"--Maas:DataDir={dir.Path}", $"--{key}={value}" })
        {
            info.ArgumentList.Add(argument);
        }

        info.Environment["DOTNET_NOLOGO"] = "1";
        using var worker = Process.Start(info)!;
        var error = worker.StandardError.ReadToEndAsync();
        var output = worker.StandardOutput.ReadToEndAsync();
        try
        {
            await worker.WaitForExitAsync().WaitAsync(TimeSpan.FromMinutes(2));
        }
        finally
        {
            if (!worker.HasExited)
            {
                worker.Kill(); // it started working instead of refusing the settings
            }
        }

        // The same registry as the server's, from the same settings: what the server would not start with, neither does the worker.
        Assert.True(worker.ExitCode == 2, $"exit {worker.ExitCode}: {await output} {await error}");
        Assert.Contains("maas worker: configuration:", await error, StringComparison.Ordinal);
        Assert.Contains(key.Split(':')[^1], await error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_separate_worker_applies_the_tenants_own_storage_quota_to_the_version_it_registers()
    {
        using var dir = new TempDirectory("maas-worker-quota");
        // No server-wide quota, and no worker in the server: only the tenant's own quota can refuse the result.
        await using var server = await MaasTestServer.StartAsync(dataDir: dir.Path, settings: new Dictionary<string, string?> { ["Maas:Training:Workers"] = "0" });
        var (client, tenant) = await server.TenantClientAsync("datasets:write", "training:write", "training:read", "models:write");
        using var _ = client;
        var dataset = await TrainingApiTests.DatasetAsync(client, Encoding.UTF8.GetBytes("x,y\n" + string.Concat(Enumerable.Range(0, 40).Select(i => $"{i},{(2 * i) + 1}\n"))),
            "line.csv");
        await (await server.Client.PatchAsync($"api/v1/tenants/{tenant}", Api.Json("""{"limits": {"storage_quota_bytes": 1}}"""))).JsonAsync(HttpStatusCode.OK);

        var model = Names.Unique("line");
        using var submitted = await client.PostAsync("api/v1/training/jobs", Api.Json(
            $$"""{"model": "{{model}}", "dataset": "{{dataset}}", "task": "regression", "label": "y", "trainer": "sdca"}"""));
        var id = (string)(await submitted.JsonAsync(HttpStatusCode.Accepted))["id"]!;

        Process? worker = null;
        try
        {
            worker = WorkerKillTests.StartWorker(dir.Path);
            var done = await TrainingApiTests.WaitAsync(client, id, TimeSpan.FromMinutes(3));

            // The fit succeeds in the worker; registering its version would take the tenant past its own 1-byte quota.
            Assert.True((string?)done["status"] == "failed", done.ToJsonString());
            Assert.Contains($":{worker.Id}:", (string?)done["worker"], StringComparison.Ordinal);
            Assert.Equal("storage_quota_exceeded", (string?)done["error"]!["code"]);
            Assert.Contains("storage quota of 1 bytes (the tenant's limits.storage_quota_bytes)", (string?)done["error"]!["message"], StringComparison.Ordinal);
            using var versions = await client.GetAsync($"api/v1/models/{model}/versions");
            if (versions.StatusCode != HttpStatusCode.NotFound)
            {
                Assert.Empty((await versions.JsonAsync(HttpStatusCode.OK))["versions"]!.AsArray()); // nothing was registered
            }
        }
        finally
        {
            if (worker is { HasExited: false })
            {
                worker.Kill();
                await worker.WaitForExitAsync();
            }

            worker?.Dispose();
        }
    }
}
