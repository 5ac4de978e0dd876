using System.Net;
using System.Text.Json.Nodes;
using Maas.Core.Registry.Import;
using Maas.Server.Tests.Support;
using Maas.Testing;

namespace Maas.Server.Tests.Registry;

/// <summary>
/// An import's version options (its <c>derived_from</c> naming a ready version) are checked again before its point of
/// no return, with its format: a lineage version deleted while the file downloaded fails the import there, where a
/// cancel still stops it; once past that point the commit does not check them again, so an import whose cancel was
/// refused registers its version. The check used to run only in the commit, after the point of no return.
/// </summary>
public sealed class ImportLineageCheckTests
{
    private static async Task<(LoopbackFileServer Files, MaasTestServer Server)> StartAsync()
    {
        var files = await LoopbackFileServer.StartAsync();
        try
        {
            var server = await MaasTestServer.StartAsync(settings: new Dictionary<string, string?>
            {
                ["Maas:Registry:ImportAllowPrivateNetworks"] = "true", // the "outside" host is on loopback
            });
            return (files, server);
        }
        catch
        {
            await files.DisposeAsync();
            throw;
        }
    }

    // A model with one version, and an import into another model whose derived_from names that version, held at step.
    private static async Task<(string Source, string Name, string Job, ImportHold Hold, List<ImportStep> Passed)> StartHeldAsync(
        LoopbackFileServer files, MaasTestServer server, ImportStep step, int seed)
    {
        var client = server.Client;
        var source = await client.CreateModelAsync();
        await client.UploadAsync(source, TestArtifacts.Onnx(seed), "model.onnx");
        var name = await client.CreateModelAsync();
        var url = files.Add($"/files/{Names.Unique("f")}/m.onnx", new ServedFile(TestArtifacts.Onnx(seed + 1)));
        var hold = new ImportHold(step);
        var passed = ImportHold.Install(server, name, hold);
        var id = await ImportHold.StartImportAsync(client, name, url, $", \"derived_from\": \"{source}/versions/1\"");
        await hold.Reached;
        return (source, name, id, hold, passed);
    }

    private static async Task DeleteAsync(HttpClient client, string model)
    {
        using var deleted = await client.DeleteAsync($"api/v1/models/{model}/versions/1");
        Assert.Equal(HttpStatusCode.NoContent, deleted.StatusCode);
    }

    private static async Task<JsonArray> VersionsAsync(HttpClient client, string model)
    {
        using var versions = await client.GetAsync($"api/v1/models/{model}/versions");
        return (await versions.JsonAsync(HttpStatusCode.OK))["versions"]!.AsArray();
    }

    [Fact]
    public async Task A_lineage_version_deleted_during_the_download_fails_the_import_before_its_point_of_no_return()
    {
        var (files, server) = await StartAsync();
        await using var _ = files;
        await using var __ = server;
        var client = server.Client;
        var (source, name, id, hold, passed) = await StartHeldAsync(files, server, ImportStep.Checking, seed: 71);
        try
        {
            await DeleteAsync(client, source); // while the import has its file and is about to check it
            hold.Release();

            var job = await client.WaitForJobAsync(id);
            Assert.True((string?)job["status"] == "failed", job.ToJsonString());
            Assert.Equal("lineage_not_found", (string?)job["error"]!["code"]);
            Assert.Equal(ImportProgress.Validating, (string?)job["stage"]);
            lock (passed)
            {
                Assert.Equal(new[] { ImportStep.Checking }, passed); // never past the point of no return
            }

            Assert.Empty(await VersionsAsync(client, name));
        }
        finally
        {
            hold.Release();
        }
    }

    [Fact]
    public async Task A_lineage_version_deleted_past_the_point_of_no_return_does_not_fail_the_commit()
    {
        var (files, server) = await StartAsync();
        await using var _ = files;
        await using var __ = server;
        var client = server.Client;
        var (source, name, id, hold, _) = await StartHeldAsync(files, server, ImportStep.Finishing, seed: 73);
        try
        {
            await DeleteAsync(client, source); // once the import's cancel would be refused: it promises to finish
            hold.Release();

            var job = await client.WaitForJobAsync(id);
            Assert.True((string?)job["status"] == "succeeded", job.ToJsonString());
            var version = Assert.Single(await VersionsAsync(client, name))!;
            Assert.Equal("ready", (string?)version["status"]);

            // As for a version whose lineage version is deleted after its commit: the lineage it was made with stays.
            Assert.Equal(1, (int)version["derived_from"]!["version"]!);
        }
        finally
        {
            hold.Release();
        }
    }
}
