using System.Globalization;
using System.Net;
using System.Text.Json.Nodes;
using Maas.Core.Registry.Import;
using Maas.Server.Tests.Support;
using Maas.Storage.Sql;
using Maas.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace Maas.Server.Tests.Registry;

/// <summary>
/// An imported file gets the format check (ONNX, GGUF) an upload gets in the import's <c>validating</c> stage, before
/// its point of no return: a file that is not a usable model fails there with the upload's code and message, and a
/// cancel during the check stops the import. It used to be checked only once the import was <c>registering</c> (95%),
/// where a cancel is refused.
/// </summary>
public sealed class ImportFormatCheckTests
{
    private static async Task<(LoopbackFileServer Files, MaasTestServer Server)> StartAsync(long quota)
    {
        var files = await LoopbackFileServer.StartAsync();
        try
        {
            var server = await MaasTestServer.StartAsync(settings: new Dictionary<string, string?>
            {
                ["Maas:Registry:ImportAllowPrivateNetworks"] = "true", // the "outside" host is on loopback
                ["Maas:Registry:TenantStorageQuotaBytes"] = quota.ToString(CultureInfo.InvariantCulture),
            });
            return (files, server);
        }
        catch
        {
            await files.DisposeAsync();
            throw;
        }
    }

    private static async Task<long> ReservationsAsync(MaasTestServer server)
    {
        var store = server.Services.GetRequiredService<SqlRegistryStore>();
        await using var connection = await store.Dialect.OpenAsync(CancellationToken.None);
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT COUNT(*) FROM storage_reservations";
        return Convert.ToInt64(await command.ExecuteScalarAsync(), CultureInfo.InvariantCulture);
    }

    private static async Task<JsonNode> JobAsync(HttpClient client, string id)
    {
        using var response = await client.GetAsync($"api/v1/jobs/{id}");
        return await response.JsonAsync(HttpStatusCode.OK);
    }

    private static HashSet<string> Drafts(MaasTestServer server)
    {
        var drafts = Path.Combine(server.DataDir, "tmp", "staging", "drafts");
        return Directory.Exists(drafts) ? Directory.EnumerateFileSystemEntries(drafts).ToHashSet() : [];
    }

    [Fact]
    public async Task A_file_that_is_not_a_usable_model_fails_the_import_while_validating_with_the_uploads_error_and_leaves_nothing()
    {
        var gguf = TestArtifacts.Gguf(seed: 61);
        var truncated = TestArtifacts.Truncated(gguf, gguf.Length / 2); // the header intact, the tensor data cut short

        // Room for the whole GGUF and 1 KiB more: a reservation a failed import left behind would keep it out.
        var (files, server) = await StartAsync(quota: gguf.Length + 1024);
        await using var _ = files;
        await using var __ = server;
        var client = server.Client;

        foreach (var (fileName, bytes, code) in new[]
        {
            ("notes.onnx", "just some text, not a model"u8.ToArray(), "unknown_format"),
            ("cut.gguf", truncated, "invalid_model_file"),
        })
        {
            // What an upload of the file gets.
            var uploaded = await client.CreateModelAsync();
            JsonNode refused;
            using (var response = await client.PostAsync($"api/v1/models/{uploaded}/versions", MaasTestServer.Artifact(bytes, fileName)))
            {
                refused = await response.ErrorAsync(HttpStatusCode.BadRequest, code);
            }

            var name = await client.CreateModelAsync();
            var url = files.Add($"/files/{Names.Unique("f")}/{fileName}", new ServedFile(bytes));
            var passed = ImportHold.Install(server, name);
            var id = await ImportHold.StartImportAsync(client, name, url);
            var job = await client.WaitForJobAsync(id);

            // The same error as the upload, in the validating stage (90), never past the point of no return.
            Assert.True((string?)job["status"] == "failed", job.ToJsonString());
            Assert.Equal(code, (string?)job["error"]!["code"]);
            Assert.Equal((string?)refused["message"], (string?)job["error"]!["message"]);
            Assert.Equal(ImportProgress.Validating, (string?)job["stage"]);
            Assert.Equal(90.0, (double)job["progress"]!);
            Assert.False((bool)job["finishing"]!);
            Assert.Equal(bytes.Length, (long)job["bytes_done"]!);
            lock (passed)
            {
                Assert.Equal(new[] { ImportStep.Checking }, passed);
            }

            using (var versions = await client.GetAsync($"api/v1/models/{name}/versions"))
            {
                Assert.Empty((await versions.JsonAsync(HttpStatusCode.OK))["versions"]!.AsArray());
            }

            // No staged file left, and no bytes of the quota held (the clean-up may trail the job's end by a moment).
            await Conditions.WaitUntilAsync(() => Drafts(server).Count == 0, "the failed import's draft is gone");
            await Conditions.WaitUntilAsync(async () => await ReservationsAsync(server) == 0, "the failed import's storage reservation is released");
        }

        // The quota is whole again: the full GGUF fits (it would not beside the truncated one's reservation).
        var model = await client.CreateModelAsync();
        Assert.Equal(1, (int)(await client.UploadAsync(model, gguf, "m.gguf"))["version"]!);
    }

    [Fact]
    public async Task A_cancel_that_arrives_while_the_file_is_checked_ends_the_import_cancelled_with_nothing_registered()
    {
        var (files, server) = await StartAsync(quota: 64L << 20);
        await using var _ = files;
        await using var __ = server;
        var client = server.Client;
        var name = await client.CreateModelAsync();
        var url = files.Add($"/files/{Names.Unique("f")}/m.gguf", new ServedFile(TestArtifacts.Gguf(seed: 62)));
        var hold = new ImportHold(ImportStep.Checking);
        var passed = ImportHold.Install(server, name, hold);
        try
        {
            var id = await ImportHold.StartImportAsync(client, name, url);
            var point = await hold.Reached; // downloaded and staged, its format about to be checked

            var checking = await JobAsync(client, id);
            Assert.Equal((ImportProgress.Validating, 90.0, false), ((string?)checking["stage"], (double)checking["progress"]!, (bool)checking["finishing"]!));

            // The cancel is recorded while the check is held (the token the check reads fires), then the check runs.
            var recorded = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            using var registration = point.Cancellation.Register(recorded.SetResult);
            var cancel = client.DeleteAsync($"api/v1/jobs/{id}");
            await recorded.Task.WaitAsync(Conditions.Ceiling);
            hold.Release();
            await ImportHold.AssertCancelledAsync(cancel);
            lock (passed)
            {
                Assert.Equal(new[] { ImportStep.Checking }, passed); // the check stopped the import: it never got further
            }

            using (var versions = await client.GetAsync($"api/v1/models/{name}/versions"))
            {
                Assert.Empty((await versions.JsonAsync(HttpStatusCode.OK))["versions"]!.AsArray());
            }

            await Conditions.WaitUntilAsync(() => Drafts(server).Count == 0, "the cancelled import's draft is gone");
            await Conditions.WaitUntilAsync(async () => await ReservationsAsync(server) == 0, "the cancelled import's storage reservation is released");
        }
        finally
        {
            hold.Release();
        }
    }
}
