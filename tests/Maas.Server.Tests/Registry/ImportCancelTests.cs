using System.Net;
using System.Text.Json.Nodes;
using Maas.Core.Registry.Import;
using Maas.Server.Tests.Support;
using Maas.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace Maas.Server.Tests.Registry;

/// <summary>
/// Cancelling an import around its point of no return (right before it commits its version), held there through
/// <see cref="ModelImporter.Checkpoint"/>: a cancel first stops it with nothing registered, a cancel after is refused
/// with 409 <c>job_finished</c> and the job's <c>status</c>, as for the worker-run jobs.
/// </summary>
public sealed class ImportCancelTests(ImportServers servers) : IClassFixture<ImportServers>
{
    private static async Task<JsonNode> RefusedAsync(HttpClient client, string id, string status, string message)
    {
        using var response = await client.DeleteAsync($"api/v1/jobs/{id}").WaitAsync(Conditions.Ceiling);
        var error = await response.ErrorAsync(HttpStatusCode.Conflict, "job_finished");
        Assert.Equal(status, (string?)error["status"]);
        Assert.Contains(message, (string?)error["message"], StringComparison.Ordinal);
        return error;
    }

    private static async Task<JsonNode> JobAsync(HttpClient client, string id)
    {
        using var response = await client.GetAsync($"api/v1/jobs/{id}");
        return await response.JsonAsync(HttpStatusCode.OK);
    }

    [Fact]
    public async Task A_cancel_recorded_right_before_the_commit_point_stops_the_import_with_nothing_registered()
    {
        var server = await servers.GetAsync(Db.Sqlite);
        var client = server.Client;
        var name = await client.CreateModelAsync();
        var url = servers.Files.Add($"/files/{Names.Unique("f")}/m.onnx", new ServedFile(TestArtifacts.Onnx(seed: 41)));
        var drafts = Path.Combine(server.DataDir, "tmp", "staging", "drafts");
        var before = Directory.Exists(drafts) ? Directory.EnumerateFileSystemEntries(drafts).ToHashSet() : [];
        var hold = new ImportHold(ImportStep.BeforeFinishing);
        var passed = ImportHold.Install(server, name, hold);
        try
        {
            var id = await ImportHold.StartImportAsync(client, name, url);
            var point = await hold.Reached; // downloaded, checked and staged: one step before the point of no return

            // The cancel is recorded while the import is held (the job's token fires), then the import goes on.
            var recorded = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            using var registration = point.Cancellation.Register(recorded.SetResult);
            var cancel = client.DeleteAsync($"api/v1/jobs/{id}");
            await recorded.Task.WaitAsync(Conditions.Ceiling);

            // A second cancel meanwhile changes nothing and says so.
            await RefusedAsync(client, id, "running", "already being cancelled");

            // Readers see the cancel on its way, as on worker-run jobs.
            var stopping = await JobAsync(client, id);
            Assert.Equal("running", (string?)stopping["status"]);
            Assert.True((bool)stopping["cancel_requested"]!);
            Assert.False((bool)stopping["finishing"]!);
            Assert.Equal("cancelling", (string?)stopping["stage"]);

            hold.Release();
            await ImportHold.AssertCancelledAsync(cancel);

            lock (passed)
            {
                Assert.Equal(new[] { ImportStep.Checking, ImportStep.BeforeFinishing }, passed); // never reached the commit
            }

            using var versions = await client.GetAsync($"api/v1/models/{name}/versions");
            Assert.Empty((await versions.JsonAsync(HttpStatusCode.OK))["versions"]!.AsArray());
            Assert.All(Directory.EnumerateFileSystemEntries(drafts), d => Assert.Contains(d, before)); // its staged file is gone
            Assert.Equal("cancelled", (string?)(await client.WaitForJobAsync(id))["status"]);
            await RefusedAsync(client, id, "cancelled", "already ended (cancelled)");
        }
        finally
        {
            hold.Release();
        }
    }

    [Fact]
    public async Task A_cancel_past_the_commit_point_is_too_late_and_the_import_ends_succeeded()
    {
        var server = await servers.GetAsync(Db.Sqlite);
        var client = server.Client;
        var name = await client.CreateModelAsync();
        var url = servers.Files.Add($"/files/{Names.Unique("f")}/m.onnx", new ServedFile(TestArtifacts.Onnx(seed: 42)));
        var finishing = new ImportHold(ImportStep.Finishing);
        var committed = new ImportHold(ImportStep.Committed);
        ImportHold.Install(server, name, finishing, committed);
        try
        {
            var id = await ImportHold.StartImportAsync(client, name, url);

            // Past the point of no return, before the commit: refused, and the job is not touched.
            var point = await finishing.Reached;
            var committing = await JobAsync(client, id);
            Assert.True((bool)committing["finishing"]!);
            Assert.False((bool)committing["cancel_requested"]!);
            await RefusedAsync(client, id, "running", "too late to cancel");
            Assert.False(point.Cancellation.IsCancellationRequested);
            finishing.Release();

            // The version is committed, the job has not shown its end yet: refused the same way (it was 200 with
            // the job's real end, "succeeded", for a cancel that said nothing about being too late).
            await committed.Reached;
            using (var version = await client.GetAsync($"api/v1/models/{name}/versions/1"))
            {
                Assert.Equal("ready", (string?)(await version.JsonAsync(HttpStatusCode.OK))["status"]);
            }

            await RefusedAsync(client, id, "running", "too late to cancel");
            Assert.False(point.Cancellation.IsCancellationRequested);
            committed.Release();

            var job = await client.WaitForJobAsync(id);
            Assert.True((string?)job["status"] == "succeeded", job.ToJsonString());
            Assert.Equal(1, (int)job["result"]!["version"]!);
            Assert.False((bool)job["finishing"]!);
            Assert.False((bool)job["cancel_requested"]!);
            await RefusedAsync(client, id, "succeeded", "already ended (succeeded)");
        }
        finally
        {
            finishing.Release();
            committed.Release();
        }
    }

    [Fact]
    public async Task A_cancel_of_a_failed_import_is_job_finished_with_its_status()
    {
        var client = (await servers.GetAsync(Db.Sqlite)).Client;
        var name = await client.CreateModelAsync();
        var url = servers.Files.Add($"/files/{Names.Unique("f")}/m.onnx", new ServedFile(TestArtifacts.Onnx(seed: 43)));
        var id = await ImportHold.StartImportAsync(client, name, url, $$""", "sha256": "{{new string('d', 64)}}" """);
        Assert.Equal("failed", (string?)(await client.WaitForJobAsync(id))["status"]);
        await RefusedAsync(client, id, "failed", "already ended (failed)");
    }
}
