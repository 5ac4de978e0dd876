using System.Diagnostics;
using System.Net;
using Maas.Server.Tests.Support;
using Maas.Testing;

namespace Maas.Server.Tests.Training;

/// <summary>A training worker in its own process, killed with SIGKILL mid-job: another worker takes the job up once the lease expires.</summary>
public sealed class WorkerKillTests
{
    /// <summary>A worker process on <paramref name="dataDir"/>'s database; it trains at normal priority (see <see cref="MaasTestServer.DefaultSettings"/>).</summary>
    internal static Process StartWorker(string dataDir, int threads = 2, params string[] settings) =>
        StartWorkerAt(dataDir, threads, ["--Maas:Training:Nice=0", .. settings]);

    /// <summary>A worker process with the server's own default nice value for training unless <paramref name="settings"/> set one.</summary>
    internal static Process StartWorkerAtDefaultNice(string dataDir, int threads, params string[] settings) => StartWorkerAt(dataDir, threads, settings);

    private static Process StartWorkerAt(string dataDir, int threads, string[] settings)
    {
        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        info.ArgumentList.Add(MaasServerProcess.ServerDll());
        info.ArgumentList.Add("worker");
        foreach (var setting in new[] { $"--Maas:DataDir={dataDir}", "--Maas:Training:LeaseSeconds=3", "--Maas:Training:PollMilliseconds=100",
            $"--Maas:Training:Threads={threads}", "--Logging:LogLevel:Default=Warning" }.Concat(settings))
        {
            info.ArgumentList.Add(setting);
        }

        info.Environment["DOTNET_NOLOGO"] = "1";
        var process = Process.Start(info) ?? throw new InvalidOperationException("dotnet did not start");
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    [SharedDatasetFact("digits.csv")]
    public async Task A_worker_killed_mid_job_is_replaced_and_exactly_one_version_is_registered()
    {
        using var dir = new TempDirectory("maas-train-kill");
        // The server runs no worker of its own: the jobs go to the worker processes.
        await using var server = await MaasTestServer.StartAsync(dataDir: dir.Path, settings: new Dictionary<string, string?> { ["Maas:Training:Workers"] = "0" });
        var client = server.Client;
        var dataset = await TrainingApiTests.DatasetAsync(client, await File.ReadAllBytesAsync(SharedDatasets.PathOf("digits.csv")), "digits.csv");
        var model = Names.Unique("killed");
        var body = $$"""{"model": "{{model}}", "dataset": "{{dataset}}", "task": "multiclass-classification", "label": "digit", "trainer": "lightgbm", "hyperparameters":""" +
            $$""" {"iterations": 200} }""";
        using var submitted = await client.PostAsync("api/v1/training/jobs", Api.Json(body));
        var id = (string)(await submitted.JsonAsync(HttpStatusCode.Accepted))["id"]!;

        var first = StartWorker(dir.Path);
        var second = (Process?)null;
        try
        {
            // Wait until the first worker holds the job (it stays queued or running meanwhile), then kill it with SIGKILL.
            await Conditions.ReadUntilAsync(
                async () =>
                {
                    var job = await (await client.GetAsync($"api/v1/training/jobs/{id}")).JsonAsync(HttpStatusCode.OK);
                    Assert.True((string?)job["status"] is "queued" or "running", job.ToJsonString());
                    return job;
                },
                job => (string?)job["status"] == "running" && ((string?)job["worker"])?.Contains($":{first.Id}:", StringComparison.Ordinal) == true,
                "the worker process claims the job",
                TimeSpan.FromMinutes(2),
                job => job.ToJsonString());

            first.Kill();
            await first.WaitForExitAsync();

            second = StartWorker(dir.Path);
            var done = await TrainingApiTests.WaitAsync(client, id, TimeSpan.FromMinutes(5));
            Assert.True((string?)done["status"] == "succeeded", done.ToJsonString());
            Assert.Equal(2, (int)done["attempts"]!);
            Assert.Contains($":{second.Id}:", (string?)done["worker"], StringComparison.Ordinal);

            var versions = await (await client.GetAsync($"api/v1/models/{model}/versions")).JsonAsync(HttpStatusCode.OK);
            var list = versions["versions"]!.AsArray();
            Assert.Single(list);
            var version = await (await client.GetAsync($"api/v1/models/{model}/versions/{list[0]!["version"]}")).JsonAsync(HttpStatusCode.OK);
            Assert.Equal(id, (string?)version["lineage"]!["job"]);
            Assert.True((double)version["evaluation"]!["accuracy"]! >= 0.9, version["evaluation"]!.ToJsonString());

            var events = await (await client.GetAsync($"api/v1/training/jobs/{id}/events?limit=1000")).JsonAsync(HttpStatusCode.OK);
            var running = events["events"]!.AsArray().Where(e => (string?)e!["type"] == "status" && (string?)e["data"]!["status"] == "running").ToArray();
            // The killed worker may die before writing its own event; the one that took over records its attempt.
            Assert.Contains(running, e => (int)e!["data"]!["attempt"]! == 2);
        }
        finally
        {
            foreach (var process in new[] { first, second })
            {
                if (process is { HasExited: false })
                {
                    process.Kill();
                    await process.WaitForExitAsync();
                }

                process?.Dispose();
            }
        }
    }
}
