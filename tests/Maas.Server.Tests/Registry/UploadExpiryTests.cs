using System.Globalization;
using System.Net;
using Maas.Server.Tests.Support;
using Maas.Testing;
using static Maas.Testing.Conditions;

namespace Maas.Server.Tests.Registry;

/// <summary>
/// Abandoned resumable uploads, of models and of datasets, are removed once expired, staged bytes and all, by the
/// server's sweep (Maas:Registry:UploadSessionSweepMs), without anyone opening another upload.
/// </summary>
public sealed class UploadExpiryTests
{
    [Fact]
    public async Task Abandoned_model_and_dataset_uploads_lose_their_staged_bytes_once_expired()
    {
        var settings = new Dictionary<string, string?>
        {
            // 18 seconds: time enough to open each session and send it a chunk.
            ["Maas:Registry:UploadSessionTtlHours"] = "0.005",
            ["Maas:Datasets:UploadSessionTtlHours"] = "0.005",
            ["Maas:Registry:UploadSessionSweepMs"] = "200",
        };
        await using var server = await MaasTestServer.StartAsync(settings: settings);
        var client = server.Client;

        var model = await client.CreateModelAsync();
        var modelSession = (string)(await (await client.PostAsync($"api/v1/models/{model}/uploads",
            Api.Json("""{"filename": "model.onnx"}"""))).JsonAsync(HttpStatusCode.Created))["id"]!;
        await SendChunkAsync(client, $"api/v1/uploads/{modelSession}");

        var dataset = Names.Unique("ds");
        await (await client.PostAsync("api/v1/datasets", Api.Json($$"""{"name": "{{dataset}}"}"""))).JsonAsync(HttpStatusCode.Created);
        var datasetSession = (string)(await (await client.PostAsync($"api/v1/datasets/{dataset}/uploads",
            Api.Json("""{"filename": "rows.csv"}"""))).JsonAsync(HttpStatusCode.Created))["id"]!;
        await SendChunkAsync(client, $"api/v1/datasets/{dataset}/uploads/{datasetSession}");

        Assert.NotEmpty(StagedFiles(server, modelSession));
        Assert.NotEmpty(StagedFiles(server, datasetSession));

        await WaitUntilAsync(
            () => StagedFiles(server, modelSession).Length == 0 && StagedFiles(server, datasetSession).Length == 0,
            "the expired sessions' staged files removed",
            TimeSpan.FromMinutes(2));
        await (await client.GetAsync($"api/v1/uploads/{modelSession}")).ErrorAsync(HttpStatusCode.NotFound, "upload_not_found");
        await (await client.GetAsync($"api/v1/datasets/{dataset}/uploads/{datasetSession}")).ErrorAsync(HttpStatusCode.NotFound, "upload_not_found");
    }

    private static async Task SendChunkAsync(HttpClient client, string url)
    {
        using var request = new HttpRequestMessage(HttpMethod.Patch, url) { Content = new ByteArrayContent("a,b\n1,2\n"u8.ToArray()) };
        request.Headers.Add("Upload-Offset", 0.ToString(CultureInfo.InvariantCulture));
        using var response = await client.SendAsync(request);
        Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);
    }

    private static string[] StagedFiles(MaasTestServer server, string session) =>
        [.. Directory.EnumerateFiles(server.DataDir, session + "*", SearchOption.AllDirectories)];
}
