using System.Net;
using System.Text.Json.Nodes;
using Maas.Server.Tests.Support;
using Maas.Testing;

namespace Maas.Server.Tests.Registry;

/// <summary>
/// Metadata under <c>maas.</c> is the server's: a client that could set <c>maas.job</c> on an upload would make a
/// retried training or optimisation job adopt that version as its own output. Every route that takes a version's
/// metadata from a client refuses such a key (400 reserved_metadata naming it) and creates nothing.
/// </summary>
public sealed class ReservedMetadataTests(ServerPerDb servers) : IClassFixture<ServerPerDb>
{
    private static async Task AssertRefusedAsync(HttpResponseMessage response, string key)
    {
        var error = await response.ErrorAsync(HttpStatusCode.BadRequest, "reserved_metadata");
        Assert.Equal(key, (string?)error["key"]);
        var message = (string?)error["message"];
        Assert.Contains($"'{key}'", message, StringComparison.Ordinal);
        Assert.Contains("reserved for the server", message, StringComparison.Ordinal);
    }

    private static async Task AssertNoVersionsAsync(HttpClient client, string model)
    {
        using var listed = await client.GetAsync($"api/v1/models/{model}/versions");
        Assert.Empty((await listed.JsonAsync(HttpStatusCode.OK))["versions"]!.AsArray());
    }

    [Theory]
    [OnSqlite]
    public async Task A_raw_upload_with_a_maas_key_in_its_metadata_header_is_refused_naming_the_key(Db db)
    {
        var client = (await servers.GetAsync(db)).Client;
        var model = await client.CreateModelAsync();

        foreach (var key in new[] { "maas.job", "maas.optimization", "maas.tabular", "maas.fine_tuning.job", "MAAS.Job" })
        {
            var content = MaasTestServer.Artifact(TestArtifacts.Onnx(), "model.onnx");
            content.Headers.Add("X-Maas-Metadata", new JsonObject { ["run"] = "42", [key] = "job-that-never-ran" }.ToJsonString());
            using var response = await client.PostAsync($"api/v1/models/{model}/versions", content);
            await AssertRefusedAsync(response, key);
        }

        await AssertNoVersionsAsync(client, model);

        // Other keys, and the one maas. key that describes the upload itself, are the client's to set.
        var allowed = MaasTestServer.Artifact(TestArtifacts.Onnx(), "model.onnx");
        allowed.Headers.Add("X-Maas-Metadata", """{"maas": "x", "maasjob": "y", "run.maas.job": "z", "maas.preprocess": "unit"}""");
        using var created = await client.PostAsync($"api/v1/models/{model}/versions", allowed);
        var version = await created.JsonAsync(HttpStatusCode.Created);
        Assert.Equal("unit", (string?)version["metadata"]!["maas.preprocess"]);
        Assert.Equal("z", (string?)version["metadata"]!["run.maas.job"]);
    }

    [Theory]
    [OnSqlite]
    public async Task A_multipart_upload_with_a_maas_key_in_its_metadata_field_is_refused(Db db)
    {
        var client = (await servers.GetAsync(db)).Client;
        var model = await client.CreateModelAsync();
        using var form = new MultipartFormDataContent
        {
            { new ByteArrayContent(TestArtifacts.Onnx()), "file", "model.onnx" },
            { new StringContent("""{"maas.job": "job-that-never-ran"}"""), "metadata" },
        };

        using var response = await client.PostAsync($"api/v1/models/{model}/versions", form);

        await AssertRefusedAsync(response, "maas.job");
        await AssertNoVersionsAsync(client, model);
    }

    [Theory]
    [OnSqlite]
    public async Task Completing_an_upload_session_with_a_maas_key_is_refused_and_leaves_the_session_usable(Db db)
    {
        var client = (await servers.GetAsync(db)).Client;
        var model = await client.CreateModelAsync();
        var onnx = TestArtifacts.Onnx();
        using var opened = await client.PostAsync($"api/v1/models/{model}/uploads", Api.Json($$"""{"filename": "model.onnx", "size": {{onnx.Length}}}"""));
        var id = (string)(await opened.JsonAsync(HttpStatusCode.Created))["id"]!;
        using (var patch = new HttpRequestMessage(HttpMethod.Patch, $"api/v1/uploads/{id}") { Content = new ByteArrayContent(onnx) })
        {
            patch.Headers.Add("Upload-Offset", "0");
            using var sent = await client.SendAsync(patch);
            Assert.Equal(HttpStatusCode.NoContent, sent.StatusCode);
        }

        using (var refused = await client.PostAsync($"api/v1/uploads/{id}/complete", Api.Json("""{"metadata": {"maas.evaluation": "{}"}}""")))
        {
            await AssertRefusedAsync(refused, "maas.evaluation");
        }

        await AssertNoVersionsAsync(client, model);
        using var completed = await client.PostAsync($"api/v1/uploads/{id}/complete", Api.Json("""{"metadata": {"source": "resumed"}}"""));
        Assert.Equal("resumed", (string?)(await completed.JsonAsync(HttpStatusCode.Created))["metadata"]!["source"]);
    }

    [Theory]
    [OnSqlite]
    public async Task An_import_with_a_maas_key_is_refused_before_a_job_starts(Db db)
    {
        var client = (await servers.GetAsync(db)).Client;
        var model = await client.CreateModelAsync();

        using var response = await client.PostAsync(
            $"api/v1/models/{model}/versions:import",
            Api.Json("""{"url": "https://models.example.com/model.onnx", "metadata": {"maas.lineage": "{}"}}"""));

        await AssertRefusedAsync(response, "maas.lineage");
        using var jobs = await client.GetAsync("api/v1/jobs?kind=import&limit=1000");
        Assert.DoesNotContain((await jobs.JsonAsync(HttpStatusCode.OK))["jobs"]!.AsArray(), j => (string?)j!["model"] == model);
    }
}
