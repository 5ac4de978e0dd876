using System.Net;
using System.Text.Json.Nodes;
using Maas.Core.Registry.Import;
using Maas.Server.Tests.Support;
using Maas.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace Maas.Server.Tests.Registry;

/// <summary>
/// An import's percent is honest: the download fills it to 90, checking and registering the file take the rest, and
/// 100 comes only with the registered version. It used to be the bytes downloaded alone, so an import showed 100% and
/// then failed when its file was refused.
/// </summary>
public sealed class ImportProgressTests(ImportServers servers) : IClassFixture<ImportServers>
{
    private static async Task<JsonNode> JobAsync(HttpClient client, string id)
    {
        using var response = await client.GetAsync($"api/v1/jobs/{id}");
        return await response.JsonAsync(HttpStatusCode.OK);
    }

    [Theory]
    [OnSqlite]
    [OnPostgres]
    public async Task An_import_whose_file_is_refused_ends_failed_below_100_percent_in_the_stage_that_refused_it(Db db)
    {
        var client = (await servers.GetAsync(db)).Client;
        var name = await client.CreateModelAsync();
        var text = "just some text, not a model"u8.ToArray();
        var notAModel = servers.Files.Add($"/files/{Names.Unique("f")}/notes.onnx", new ServedFile(text));
        var model = TestArtifacts.Onnx(seed: 51);
        var good = servers.Files.Add($"/files/{Names.Unique("f")}/m.onnx", new ServedFile(model));

        foreach (var (url, extra, code, stage, percent) in new[]
        {
            // Downloaded whole, then refused by the format check while validating (before the point of no return).
            (notAModel, "", "unknown_format", ImportProgress.Validating, 90.0),
            // Downloaded whole, then refused by the checksum comparison.
            (good, $$""", "sha256": "{{new string('e', 64)}}" """, "checksum_mismatch", ImportProgress.Validating, 90.0),
        })
        {
            var id = await ImportHold.StartImportAsync(client, name, url, extra);
            var job = await client.WaitForJobAsync(id);
            Assert.True((string?)job["status"] == "failed", job.ToJsonString());
            Assert.Equal(code, (string?)job["error"]!["code"]);
            Assert.Equal((long)job["bytes_total"]!, (long)job["bytes_done"]!); // every byte arrived ...
            Assert.Equal(percent, (double)job["progress"]!); // ... and yet the job never said it was done
            Assert.Equal(stage, (string?)job["stage"]);

            // The same in the list, which reads the stored job.
            using var list = await client.GetAsync("api/v1/jobs?kind=import&limit=1000");
            var listed = (await list.JsonAsync(HttpStatusCode.OK))["jobs"]!.AsArray().Single(j => (string?)j!["id"] == id)!;
            Assert.Equal(percent, (double)listed["progress"]!);
        }
    }

    [Fact]
    public async Task A_successful_import_climbs_through_its_stages_and_shows_100_only_once_it_ended_with_its_version()
    {
        var server = await servers.GetAsync(Db.Sqlite);
        var client = server.Client;
        var name = await client.CreateModelAsync();
        var url = servers.Files.Add($"/files/{Names.Unique("f")}/m.onnx", new ServedFile(TestArtifacts.Onnx(seed: 52)));

        // Holds this model's import at each step until the test has read the job there.
        var holds = new[] { ImportStep.BeforeFinishing, ImportStep.Finishing, ImportStep.Committed }.ToDictionary(step => step, step => new ImportHold(step));
        ImportHold.Install(server, name, [.. holds.Values]);

        try
        {
            var id = await ImportHold.StartImportAsync(client, name, url);

            // Downloaded and staged, before the point of no return: the download's 90.
            await holds[ImportStep.BeforeFinishing].Reached;
            var validating = await JobAsync(client, id);
            Assert.Equal((ImportProgress.Validating, 90.0, false), ((string?)validating["stage"], (double)validating["progress"]!, (bool)validating["finishing"]!));
            Assert.Equal((long)validating["bytes_total"]!, (long)validating["bytes_done"]!);
            holds[ImportStep.BeforeFinishing].Release();

            // Past it, committing the version.
            await holds[ImportStep.Finishing].Reached;
            var registering = await JobAsync(client, id);
            Assert.Equal((ImportProgress.Registering, 95.0, true), ((string?)registering["stage"], (double)registering["progress"]!, (bool)registering["finishing"]!));
            holds[ImportStep.Finishing].Release();

            // Committed, the job not ended yet: still not 100.
            await holds[ImportStep.Committed].Reached;
            Assert.Equal(95.0, (double)(await JobAsync(client, id))["progress"]!);
            holds[ImportStep.Committed].Release();

            var job = await client.WaitForJobAsync(id);
            Assert.True((string?)job["status"] == "succeeded", job.ToJsonString());
            Assert.Equal(100, (double)job["progress"]!);
            Assert.Equal(1, (int)job["result"]!["version"]!);
        }
        finally
        {
            foreach (var hold in holds.Values)
            {
                hold.Release();
            }
        }
    }
}
