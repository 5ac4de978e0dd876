using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using Maas.Server.Tests.Registry;
using Maas.Server.Tests.Support;
using Maas.Testing;

namespace Maas.Server.Tests.Datasets;

/// <summary>Dataset versions through the registry's resumable upload protocol: parts, a broken connection, resume, completion, errors and limits.</summary>
public sealed class DatasetUploadTests(ServerPerDb servers) : IClassFixture<ServerPerDb>
{
    private static async Task<string> CreateDatasetAsync(HttpClient client)
    {
        var name = Names.Unique("ds");
        await (await client.PostAsync("api/v1/datasets", Api.Json($$"""{"name": "{{name}}"}"""))).JsonAsync(HttpStatusCode.Created);
        return name;
    }

    private static Task<HttpResponseMessage> CreateSessionAsync(HttpClient client, string dataset, string fileName, long? size = null, string? sha = null) =>
        client.PostAsync(
            $"api/v1/datasets/{dataset}/uploads",
            Api.Json($$"""{"filename": "{{fileName}}"{{(size is null ? "" : $", \"size\": {size}")}}{{(sha is null ? "" : $", \"sha256\": \"{sha}\"")}}}"""));

    private static async Task<string> SessionAsync(HttpClient client, string dataset, string fileName, long? size = null, string? sha = null)
    {
        using var response = await CreateSessionAsync(client, dataset, fileName, size, sha);
        var session = await response.JsonAsync(HttpStatusCode.Created);
        Assert.Equal(0, (long)session["offset"]!);
        Assert.Equal($"/api/v1/datasets/{dataset}/uploads/{session["id"]}", response.Headers.Location?.ToString());
        return (string)session["id"]!;
    }

    private static Task<HttpResponseMessage> PatchAsync(HttpClient client, string dataset, string id, long offset, HttpContent chunk)
    {
        var request = new HttpRequestMessage(HttpMethod.Patch, $"api/v1/datasets/{dataset}/uploads/{id}") { Content = chunk };
        request.Headers.Add("Upload-Offset", offset.ToString(CultureInfo.InvariantCulture));
        return client.SendAsync(request);
    }

    private static async Task<long> OffsetAsync(HttpClient client, string dataset, string id)
    {
        using var head = await client.SendAsync(new HttpRequestMessage(HttpMethod.Head, $"api/v1/datasets/{dataset}/uploads/{id}"));
        Assert.Equal(HttpStatusCode.OK, head.StatusCode);
        return long.Parse(head.Headers.GetValues("Upload-Offset").Single(), CultureInfo.InvariantCulture);
    }

    private static byte[] Csv(int rows) =>
        Encoding.UTF8.GetBytes("x,label\n" + string.Concat(Enumerable.Range(0, rows).Select(i => $"{i * 0.5},{(i % 3 == 0 ? "a" : "b")}\n")));

    [Theory]
    [OnSqlite]
    [OnPostgres]
    public async Task A_dataset_uploaded_in_parts_resumes_after_a_broken_connection_and_becomes_a_version(Db db)
    {
        var server = await servers.GetAsync(db);
        var client = server.Client;
        var name = await CreateDatasetAsync(client);
        // Large enough that half of the last part leaves the client's write buffer before the connection breaks.
        var csv = Csv(6000);
        var sha = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(csv));
        var id = await SessionAsync(client, name, "parts.csv", csv.Length, sha);
        var third = csv.Length / 3;

        // Part one by PATCH with Upload-Offset, part two by PUT with Content-Range, as model uploads take them.
        using (var first = await PatchAsync(client, name, id, 0, new ByteArrayContent(csv[..third])))
        {
            Assert.Equal(HttpStatusCode.NoContent, first.StatusCode);
            Assert.Equal(third.ToString(CultureInfo.InvariantCulture), first.Headers.GetValues("Upload-Offset").Single());
        }

        var put = new ByteArrayContent(csv[third..(2 * third)]);
        put.Headers.ContentRange = new ContentRangeHeaderValue(third, (2 * third) - 1, csv.Length);
        var second = await (await client.PutAsync($"api/v1/datasets/{name}/uploads/{id}", put)).JsonAsync(HttpStatusCode.OK);
        Assert.Equal(2 * third, (long)second["offset"]!);
        Assert.Equal(name, (string?)second["dataset"]);

        // The last part's connection dies after some of it arrived; the server keeps what reached it.
        var rest = csv[(2 * third)..];
        using (var breaking = server.CreateClient())
        {
            var failing = new UploadSessionTests.FailingStream(rest, failAfter: rest.Length / 2);
            var patch = PatchAsync(breaking, name, id, 2 * third, new StreamContent(failing));
            await Conditions.WaitUntilAsync(async () => await OffsetAsync(client, name, id) != 2 * third, "some bytes of the broken chunk reach the server");

            failing.Break();
            await Assert.ThrowsAnyAsync<HttpRequestException>(() => patch);
        }

        // Resume from wherever the server says (while it notices the broken connection it answers upload_busy).
        await Conditions.WaitUntilAsync(
            async () =>
            {
                var offset = await OffsetAsync(client, name, id);
                Assert.InRange(offset, (2 * third) + 1, (2 * third) + (rest.Length / 2));
                using var resumed = await PatchAsync(client, name, id, offset, new ByteArrayContent(csv[(int)offset..]));
                if (resumed.StatusCode == HttpStatusCode.NoContent)
                {
                    return true;
                }

                var body = await resumed.Content.ReadAsStringAsync();
                Assert.True(resumed.StatusCode == HttpStatusCode.Conflict &&
                    (body.Contains("upload_busy", StringComparison.Ordinal) || body.Contains("offset_mismatch", StringComparison.Ordinal)), body);
                return false;
            },
            "the upload takes the rest of the file (it answers upload_busy until it has noticed the broken connection)");

        Assert.Equal(csv.Length, await OffsetAsync(client, name, id));
        var version = await (await client.PostAsync($"api/v1/datasets/{name}/versions?upload={id}", null)).JsonAsync(HttpStatusCode.Created);
        Assert.Equal(1, (int)version["version"]!);
        Assert.Equal(6000, (int)version["rows"]!);
        Assert.Equal(sha, (string?)version["sha256"]);
        Assert.Equal(["x:number", "label:string"], version["schema"]!.AsArray().Select(c => $"{c!["name"]}:{c["type"]}"));
        var x = version["statistics"]!.AsArray().Single(s => (string?)s!["name"] == "x")!;
        Assert.Equal(2999.5, (double)x["max"]!);

        // The session is used up.
        await (await client.GetAsync($"api/v1/datasets/{name}/uploads/{id}")).ErrorAsync(HttpStatusCode.NotFound, "upload_not_found");
        await (await client.PostAsync($"api/v1/datasets/{name}/versions?upload={id}", null)).ErrorAsync(HttpStatusCode.NotFound, "upload_not_found");
    }

    [Fact]
    public async Task A_completion_refused_for_its_choices_keeps_the_bytes_for_another_try()
    {
        var client = (await servers.GetAsync(Db.Sqlite)).Client;
        var name = await CreateDatasetAsync(client);
        var csv = Csv(30);
        var id = await SessionAsync(client, name, "retry.csv", csv.Length);
        Assert.Equal(HttpStatusCode.NoContent, (await PatchAsync(client, name, id, 0, new ByteArrayContent(csv))).StatusCode);

        // A type that does not convert is the caller's choice, not the bytes' fault: the session used to be dropped here,
        // so fixing the query meant uploading the whole file again.
        var refused = await (await client.PostAsync($"api/v1/datasets/{name}/versions?upload={id}&schema=label:boolean", null)).ErrorAsync(HttpStatusCode.BadRequest,
            "invalid_dataset");
        Assert.Contains("column 'label'", (string?)refused["message"]);
        Assert.Equal(csv.Length, await OffsetAsync(client, name, id));

        var version = await (await client.PostAsync($"api/v1/datasets/{name}/versions?upload={id}&schema=label:string", null)).JsonAsync(HttpStatusCode.Created);
        Assert.Equal(30, (int)version["rows"]!);
        await (await client.GetAsync($"api/v1/datasets/{name}/uploads/{id}")).ErrorAsync(HttpStatusCode.NotFound, "upload_not_found");
    }

    [Theory]
    [OnSqlite]
    public async Task Wrong_offsets_and_sizes_get_4xx_in_the_error_format_and_limits_are_reported(Db db)
    {
        _ = db;
        await using var server = await MaasTestServer.StartAsync(settings: new Dictionary<string, string?>
        {
            ["Maas:Datasets:MaxUploadBytes"] = "2048",
            ["Maas:Datasets:MaxUploadSessionsPerTenant"] = "3",
        });
        var client = server.Client;
        var name = await CreateDatasetAsync(client);

        var tooBig = await (await CreateSessionAsync(client, name, "big.csv", 5000)).ErrorAsync(HttpStatusCode.RequestEntityTooLarge, "upload_too_large");
        Assert.Equal(2048, (long)tooBig["limit_bytes"]!);
        Assert.Contains("Maas:Datasets:MaxUploadBytes", (string?)tooBig["message"]);
        await (await CreateSessionAsync(client, name, "sheet.xlsx")).ErrorAsync(HttpStatusCode.BadRequest, "unsupported_format");
        await (await CreateSessionAsync(client, name, "")).ErrorAsync(HttpStatusCode.BadRequest, "missing_filename");

        // A session announced at 20 bytes: wrong offsets, missing offsets, bad ranges and overruns are refused.
        var csv = Encoding.UTF8.GetBytes("a,b\n1,2\n3,4\n5,6\n7,8\n");
        Assert.Equal(20, csv.Length);
        var id = await SessionAsync(client, name, "small.csv", csv.Length);
        var mismatch = await (await PatchAsync(client, name, id, 5, new ByteArrayContent(csv))).ErrorAsync(HttpStatusCode.Conflict, "offset_mismatch");
        Assert.Equal(0, (long)mismatch["offset"]!);
        using (var noOffset = new HttpRequestMessage(HttpMethod.Patch, $"api/v1/datasets/{name}/uploads/{id}") { Content = new ByteArrayContent(csv) })
        {
            await (await client.SendAsync(noOffset)).ErrorAsync(HttpStatusCode.BadRequest, "missing_offset");
        }

        var badRange = new ByteArrayContent(csv);
        badRange.Headers.TryAddWithoutValidation("Content-Range", "bytes 0-3/20");
        await (await client.PutAsync($"api/v1/datasets/{name}/uploads/{id}", badRange)).ErrorAsync(HttpStatusCode.BadRequest, "invalid_range");
        var overrun = await (await PatchAsync(client, name, id, 0, new ByteArrayContent([.. csv, .. csv]))).ErrorAsync(HttpStatusCode.BadRequest, "upload_length_exceeded");
        Assert.Equal(20, (long)overrun["total_bytes"]!);
        Assert.Equal(0, await OffsetAsync(client, name, id));

        Assert.Equal(HttpStatusCode.NoContent, (await PatchAsync(client, name, id, 0, new ByteArrayContent(csv[..8]))).StatusCode);
        var early = await (await client.PostAsync($"api/v1/datasets/{name}/versions?upload={id}", null)).ErrorAsync(HttpStatusCode.Conflict, "upload_incomplete");
        Assert.Equal(8, (long)early["offset"]!);
        Assert.Equal(HttpStatusCode.NoContent, (await PatchAsync(client, name, id, 8, new ByteArrayContent(csv[8..]))).StatusCode);
        var version = await (await client.PostAsync($"api/v1/datasets/{name}/versions?upload={id}", null)).JsonAsync(HttpStatusCode.Created);
        Assert.Equal(4, (int)version["rows"]!);

        // Without an announced size the server-wide limit stops the bytes, and says which setting it is.
        var open = await SessionAsync(client, name, "open.csv");
        Assert.Equal(HttpStatusCode.NoContent, (await PatchAsync(client, name, open, 0, new ByteArrayContent(new byte[2000]))).StatusCode);
        var over = await (await PatchAsync(client, name, open, 2000, new StreamContent(new MemoryStream(new byte[100])))).ErrorAsync(HttpStatusCode.RequestEntityTooLarge,
            "upload_too_large");
        Assert.Equal(2048, (long)over["limit_bytes"]!);
        Assert.Equal(2000, await OffsetAsync(client, name, open));

        // A checksum promised at creation is checked at completion; the session is used up either way.
        var wrongSha = await SessionAsync(client, name, "sha.csv", sha: new string('0', 64));
        Assert.Equal(HttpStatusCode.NoContent, (await PatchAsync(client, name, wrongSha, 0, new ByteArrayContent(csv))).StatusCode);
        await (await client.PostAsync($"api/v1/datasets/{name}/versions?upload={wrongSha}", null)).ErrorAsync(HttpStatusCode.BadRequest, "checksum_mismatch");

        // At most three open sessions per tenant, named in the 429.
        await SessionAsync(client, name, "two.csv");
        var third = await SessionAsync(client, name, "three.csv");
        var busy = await (await CreateSessionAsync(client, name, "four.csv")).ErrorAsync(HttpStatusCode.TooManyRequests, "too_many_upload_sessions");
        Assert.Equal(3, (int)busy["limit"]!);
        Assert.Contains("Maas:Datasets:MaxUploadSessionsPerTenant", (string?)busy["message"]);

        // Cancelled sessions are gone; unknown ids and another dataset's path answer 404.
        Assert.Equal(HttpStatusCode.NoContent, (await client.DeleteAsync($"api/v1/datasets/{name}/uploads/{third}")).StatusCode);
        await (await client.GetAsync($"api/v1/datasets/{name}/uploads/{third}")).ErrorAsync(HttpStatusCode.NotFound, "upload_not_found");
        await (await client.PostAsync($"api/v1/datasets/{name}/versions?upload=nope", null)).ErrorAsync(HttpStatusCode.NotFound, "upload_not_found");
        var other = await CreateDatasetAsync(client);
        await (await client.GetAsync($"api/v1/datasets/{other}/uploads/{open}")).ErrorAsync(HttpStatusCode.NotFound, "upload_not_found");
        await SessionAsync(client, name, "four.csv");
    }
}
