using System.Globalization;
using System.Net;
using System.Text;
using Maas.Core.Datasets;
using Maas.Server.Tests.Support;
using Maas.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace Maas.Server.Tests.Datasets;

/// <summary>
/// The one-time sweep of dataset upload leftovers (session files without a session record, left by a crash) that a
/// server runs on its first dataset upload call removes only files no session owns: an upload another server sharing
/// the database and data folder starts while the sweep runs keeps its bytes. The sweep used to read the records
/// first and the files after, so such an upload's file, written after its record, went as a leftover.
/// </summary>
public sealed class DatasetLeftoverSweepTests
{
    private static readonly byte[] Csv = Encoding.UTF8.GetBytes("x,label\n" + string.Concat(Enumerable.Range(0, 50).Select(i => $"{i},{(i % 2 == 0 ? "a" : "b")}\n")));

    private static async Task<string> SessionAsync(HttpClient client, string dataset)
    {
        using var response = await client.PostAsync($"api/v1/datasets/{dataset}/uploads", Api.Json("""{"filename": "rows.csv"}"""));
        return (string)(await response.JsonAsync(HttpStatusCode.Created))["id"]!;
    }

    private static async Task PatchAsync(HttpClient client, string dataset, string id)
    {
        using var request = new HttpRequestMessage(HttpMethod.Patch, $"api/v1/datasets/{dataset}/uploads/{id}") { Content = new ByteArrayContent(Csv) };
        request.Headers.Add("Upload-Offset", "0");
        using var response = await client.SendAsync(request);
        Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);
        Assert.Equal(Csv.Length.ToString(CultureInfo.InvariantCulture), response.Headers.GetValues("Upload-Offset").Single());
    }

    [Theory]
    [OnSqlite]
    public async Task An_upload_started_elsewhere_while_a_server_sweeps_its_leftovers_keeps_its_bytes(Db db)
    {
        using var folder = new TempDirectory("maas-dataset-sweep");
        await using var database = await TestDatabase.CreateAsync(db);
        await using var first = await MaasTestServer.StartAsync(database, dataDir: folder.Path);
        await using var second = await MaasTestServer.StartAsync(database, dataDir: folder.Path);
        var dataset = Names.Unique("ds");
        await (await first.Client.PostAsync("api/v1/datasets", Api.Json($$"""{"name": "{{dataset}}"}"""))).JsonAsync(HttpStatusCode.Created);

        // The second server's first upload call sweeps leftovers; it is held between its two looks.
        var reached = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var released = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        second.Services.GetRequiredService<DatasetCatalog>().LeftoverSweepCheckpoint = async () =>
        {
            reached.TrySetResult();
            await released.Task;
        };

        try
        {
            var sweeping = SessionAsync(second.Client, dataset);
            await reached.Task.WaitAsync(Conditions.Ceiling);

            // Meanwhile an upload through the first server: its record, its file and all its bytes.
            var id = await SessionAsync(first.Client, dataset);
            await PatchAsync(first.Client, dataset, id);

            released.TrySetResult();
            var other = await sweeping.WaitAsync(Conditions.Ceiling);

            // The first server's upload has its bytes and becomes a version; so does the one the sweep held.
            using (var head = await first.Client.SendAsync(new HttpRequestMessage(HttpMethod.Head, $"api/v1/datasets/{dataset}/uploads/{id}")))
            {
                Assert.Equal(HttpStatusCode.OK, head.StatusCode);
                Assert.Equal(Csv.Length.ToString(CultureInfo.InvariantCulture), head.Headers.GetValues("Upload-Offset").Single());
            }

            var version = await (await first.Client.PostAsync($"api/v1/datasets/{dataset}/versions?upload={id}", null)).JsonAsync(HttpStatusCode.Created);
            Assert.Equal(50, (int)version["rows"]!);
            await PatchAsync(second.Client, dataset, other);
            var next = await (await second.Client.PostAsync($"api/v1/datasets/{dataset}/versions?upload={other}", null)).JsonAsync(HttpStatusCode.Created);
            Assert.Equal(2, (int)next["version"]!);
        }
        finally
        {
            released.TrySetResult();
        }
    }
}
