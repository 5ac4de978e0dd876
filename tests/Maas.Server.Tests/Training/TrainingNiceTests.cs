using System.Globalization;
using System.Net;
using Maas.Core.Training;
using Maas.Server.Tests.Support;
using Maas.Testing;

namespace Maas.Server.Tests.Training;

/// <summary>
/// A worker process trains a network at <c>Maas:Training:Nice</c>: its "ggml training" thread's nice value, read from
/// /proc while the job runs, is the default without the setting and the configured one with it.
/// </summary>
public sealed class TrainingNiceTests
{
    [Fact]
    public async Task The_training_thread_of_a_worker_runs_at_the_configured_nice_value()
    {
        if (!OperatingSystem.IsLinux())
        {
            return; // nice values are per thread on Linux only; elsewhere training runs at normal priority
        }

        using var dir = new TempDirectory("maas-train-nice");
        await using var server = await MaasTestServer.StartAsync(dataDir: dir.Path, settings: new Dictionary<string, string?> { ["Maas:Training:Workers"] = "0" });
        var client = server.Client;
        var (dataset, _, _) = await ImageDatasets.UploadAsync(client, 200, 12, seed: 3, "nice.zip");

        foreach (var (settings, expected) in new[] { (Array.Empty<string>(), new TrainingOptions().Nice), (["--Maas:Training:Nice=4"], 4) })
        {
            // Many epochs: the job is cancelled once the thread has been seen.
            var body = $$"""{"model": "{{Names.Unique("nice")}}", "dataset": "{{dataset}}", "task": "image-classification", "label": "label", "hyperparameters": {"epochs":""" +
                $$""" 500, "patience": 0, "batch_size": 8} }""";
            using var submitted = await client.PostAsync("api/v1/training/jobs", Api.Json(body));
            var id = (string)(await submitted.JsonAsync(HttpStatusCode.Accepted))["id"]!;
            using var worker = WorkerKillTests.StartWorkerAtDefaultNice(dir.Path, threads: 1, settings);
            try
            {
                // The job stays queued or running and the worker alive while its training thread is looked for.
                var nice = await Conditions.ReadUntilAsync(
                    async () =>
                    {
                        var found = TrainingThreadNice(worker.Id);
                        if (found is null)
                        {
                            var job = await (await client.GetAsync($"api/v1/training/jobs/{id}")).JsonAsync(HttpStatusCode.OK);
                            Assert.True((string?)job["status"] is "queued" or "running", job.ToJsonString());
                            Assert.False(worker.HasExited, "the worker process exited");
                        }

                        return found;
                    },
                    found => found is not null,
                    "a training thread appears in the worker",
                    TimeSpan.FromMinutes(3));

                Assert.Equal(expected, nice);
                (await client.PostAsync($"api/v1/training/jobs/{id}/cancel", null)).EnsureSuccessStatusCode();
                var done = await TrainingApiTests.WaitAsync(client, id, TimeSpan.FromMinutes(2));
                Assert.Equal("cancelled", (string?)done["status"]);
            }
            finally
            {
                if (!worker.HasExited)
                {
                    worker.Kill();
                    await worker.WaitForExitAsync();
                }
            }
        }
    }

    // The nice value of the process's thread named "ggml training" (field 19 of its stat, after the name in
    // parentheses), or null while there is none.
    private static int? TrainingThreadNice(int pid)
    {
        try
        {
            foreach (var task in Directory.EnumerateDirectories($"/proc/{pid}/task"))
            {
                if (File.ReadAllText(Path.Combine(task, "comm")).TrimEnd('\n') != "ggml training")
                {
                    continue;
                }

                var stat = File.ReadAllText(Path.Combine(task, "stat"));
                var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
                return int.Parse(fields[19 - 3], CultureInfo.InvariantCulture);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // A thread (or the process) ended while it was read: look again.
        }

        return null;
    }
}
