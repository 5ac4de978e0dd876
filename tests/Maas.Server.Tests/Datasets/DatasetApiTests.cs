using System.Net;
using System.Net.Http.Headers;
using System.Text;
using Maas.Core.Formats.Onnx;
using Maas.Core.Tenancy;
using Maas.Server.Tests.Support;
using Maas.Testing;

namespace Maas.Server.Tests.Datasets;

/// <summary>Datasets over HTTP: create, upload versions in each format, schema, statistics, preview, errors, tenancy, delete.</summary>
public sealed class DatasetApiTests(ServerPerDb servers) : IClassFixture<ServerPerDb>
{
    /// <summary>A raw dataset body named by X-Maas-Filename.</summary>
    public static HttpContent File(string text, string fileName) => MaasTestServer.Artifact(Encoding.UTF8.GetBytes(text), fileName);

    [Fact]
    public async Task A_create_answers_the_created_at_that_reading_it_back_gives()
    {
        // The store keeps milliseconds; the create answered the clock's ticks (7 decimals) and reading back gave 3.
        var client = (await servers.GetAsync(Db.Sqlite)).Client;
        async Task SameAsync(string create, string body, Func<System.Text.Json.Nodes.JsonNode, string> read)
        {
            var created = await (await client.PostAsync(create, Api.Json(body))).JsonAsync(HttpStatusCode.Created);
            var stored = await (await client.GetAsync(read(created))).JsonAsync(HttpStatusCode.OK);
            Assert.Equal((string?)stored["created_at"], (string?)created["created_at"]);
        }

        var dataset = Names.Unique("ds");
        await SameAsync("api/v1/datasets", $$"""{"name": "{{dataset}}"}""", _ => $"api/v1/datasets/{dataset}");
        var model = Names.Unique("m");
        await SameAsync("api/v1/models", $$"""{"name": "{{model}}"}""", _ => $"api/v1/models/{model}");
        await SameAsync("api/v1/keys", """{"name": "k", "scopes": ["models:read"]}""", k => $"api/v1/keys/{(string?)k["id"]}");

        // A version (uploaded) and a deployment of it.
        var version = await client.UploadAsync(model, OnnxModelWriter.Mlp(8, [16], 4, seed: 3).ToBytes(), "model.onnx");
        var stored = await (await client.GetAsync($"api/v1/models/{model}/versions/{(int)version["version"]!}")).JsonAsync(HttpStatusCode.OK);
        Assert.Equal((string?)stored["created_at"], (string?)version["created_at"]);
        await SameAsync("api/v1/deployments", $$"""{"model": "{{model}}", "traffic": [{"version": 1, "percent": 100}]}""", _ => $"api/v1/deployments/{model}");
    }

    [Theory]
    [OnSqlite]
    [OnPostgres]
    public async Task A_csv_version_shows_its_schema_statistics_and_preview(Db db)
    {
        var client = (await servers.GetAsync(db)).Client;
        var name = Names.Unique("ds");
        (await (await client.PostAsync("api/v1/datasets", Api.Json($$"""{"name": "{{name}}", "visibility": "shared"}"""))).JsonAsync(HttpStatusCode.Created)).ToString();
        var csv = "x,color,y\n1,red,3\n2,blue,5\n,red,7\n4,green,9\n";
        using var uploaded = await client.PostAsync($"api/v1/datasets/{name}/versions", File(csv, "points.csv"));
        var version = await uploaded.JsonAsync(HttpStatusCode.Created);
        Assert.Equal(name, (string?)version["dataset"]);
        Assert.Equal(1, (int)version["version"]!);
        Assert.Equal(4, (int)version["rows"]!);
        Assert.Equal(Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(Encoding.UTF8.GetBytes(csv))), (string?)version["sha256"]);
        Assert.Equal(["x:number", "color:string", "y:number"], version["schema"]!.AsArray().Select(c => $"{c!["name"]}:{c["type"]}"));
        var x = version["statistics"]!.AsArray().Single(s => (string?)s!["name"] == "x")!;
        Assert.Equal(1, (int)x["missing"]!);
        Assert.Equal(1, (double)x["min"]!);
        Assert.Equal(4, (double)x["max"]!);
        Assert.Equal(7.0 / 3, (double)x["mean"]!, 9);
        var color = version["statistics"]!.AsArray().Single(s => (string?)s!["name"] == "color")!;
        Assert.Equal(2, (int)color["class_balance"]!["red"]!);
        Assert.Equal(3, (int)color["distinct"]!);

        var shown = await (await client.GetAsync($"api/v1/datasets/{name}/versions/1")).JsonAsync(HttpStatusCode.OK);
        Assert.Equal((string?)version["sha256"], (string?)shown["sha256"]);
        var preview = await (await client.GetAsync($"api/v1/datasets/{name}/versions/1/preview?limit=2")).JsonAsync(HttpStatusCode.OK);
        Assert.Equal(2, preview["rows"]!.AsArray().Count);
        Assert.Equal("blue", (string?)preview["rows"]![1]!["color"]);
        Assert.Equal(5, (double)preview["rows"]![1]!["y"]!);
        await (await client.GetAsync($"api/v1/datasets/{name}/versions/1/preview?limit=0")).ErrorAsync(HttpStatusCode.BadRequest, "invalid_query");

        // JSON Lines and an IDX zip are versions 2 and 3 of the same dataset.
        var jsonl = await (await client.PostAsync($"api/v1/datasets/{name}/versions",
            File("{\"x\": 1, \"label\": \"a\"}\n{\"x\": 2.5, \"label\": \"b\"}\n", "more.jsonl"))).JsonAsync(HttpStatusCode.Created);
        Assert.Equal(2, (int)jsonl["version"]!);
        using var idx = await client.PostAsync($"api/v1/datasets/{name}/versions", MaasTestServer.Artifact(IdxFiles.Zip(5, 3, 3, gzipImages: true), "mnist.zip"));
        var images = await idx.JsonAsync(HttpStatusCode.Created);
        Assert.Equal(5, (int)images["rows"]!);
        Assert.Equal("image", (string?)images["schema"]![0]!["type"]);
        Assert.Equal([3, 3], images["schema"]![0]!["shape"]!.AsArray().Select(d => (int)d!));

        var listed = await (await client.GetAsync($"api/v1/datasets/{name}")).JsonAsync(HttpStatusCode.OK);
        Assert.Equal(3, (int)listed["latest_version"]!);
        Assert.Equal(3, listed["versions"]!.AsArray().Count);
    }

    [Theory]
    [OnSqlite]
    public async Task A_utf16_csv_with_a_byte_order_mark_is_read_as_its_text_and_one_without_gets_400_saying_so(Db db)
    {
        var client = (await servers.GetAsync(db)).Client;
        var name = Names.Unique("ds");
        await (await client.PostAsync("api/v1/datasets", Api.Json($$"""{"name": "{{name}}"}"""))).JsonAsync(HttpStatusCode.Created);
        const string csv = "city,temp\r\nKraków,3.5\r\nZürich,-1\r\n";
        foreach (var encoding in new[] { Encoding.Unicode, Encoding.BigEndianUnicode })
        {
            var bytes = encoding.GetPreamble().Concat(encoding.GetBytes(csv)).ToArray();
            var version = await (await client.PostAsync($"api/v1/datasets/{name}/versions", MaasTestServer.Artifact(bytes, "cities.csv"))).JsonAsync(HttpStatusCode.Created);
            Assert.Equal(2, (int)version["rows"]!);
            Assert.Equal(["city:string", "temp:number"], version["schema"]!.AsArray().Select(c => $"{c!["name"]}:{c["type"]}"));
            var preview = await (await client.GetAsync($"api/v1/datasets/{name}/versions/{version["version"]}/preview")).JsonAsync(HttpStatusCode.OK);
            Assert.Equal("Kraków", (string?)preview["rows"]![0]!["city"]);
            Assert.Equal(-1, (double)preview["rows"]![1]!["temp"]!);
        }

        var unmarked = Encoding.Unicode.GetBytes(csv);
        var error = await (await client.PostAsync($"api/v1/datasets/{name}/versions", MaasTestServer.Artifact(unmarked, "cities.csv"))).ErrorAsync(HttpStatusCode.BadRequest,
            "invalid_dataset");
        Assert.Contains("line 1: the file starts with NUL bytes; it looks like UTF-16 without a byte order mark. Save it as UTF-8, or UTF-16 or UTF-32 with a byte order mark",
            (string?)error["message"], StringComparison.Ordinal);
    }

    [Theory]
    [OnSqlite]
    public async Task Bad_files_get_400_naming_the_line_and_nothing_is_kept(Db db)
    {
        var client = (await servers.GetAsync(db)).Client;
        var name = Names.Unique("ds");
        await (await client.PostAsync("api/v1/datasets", Api.Json($$"""{"name": "{{name}}"}"""))).JsonAsync(HttpStatusCode.Created);
        var error = await (await client.PostAsync($"api/v1/datasets/{name}/versions", File("a,b\n1,2\n3,4,5\n", "bad.csv"))).ErrorAsync(HttpStatusCode.BadRequest,
            "invalid_dataset");
        Assert.Contains("line 3", (string?)error["message"]);
        error = await (await client.PostAsync($"api/v1/datasets/{name}/versions", File("{\"a\": 1}\nnot json\n", "bad.jsonl"))).ErrorAsync(HttpStatusCode.BadRequest,
            "invalid_dataset");
        Assert.Contains("line 2", (string?)error["message"]);
        await (await client.PostAsync($"api/v1/datasets/{name}/versions", File("a\n1\n", "data.xlsx"))).ErrorAsync(HttpStatusCode.BadRequest, "unsupported_format");
        await (await client.PostAsync($"api/v1/datasets/{name}/versions", File("a\n1\n", ""))).ErrorAsync(HttpStatusCode.BadRequest, "missing_filename");
        await (await client.PostAsync($"api/v1/datasets/{name}/versions", File("a,b\n", "empty.csv"))).ErrorAsync(HttpStatusCode.BadRequest, "invalid_dataset");
        await (await client.PostAsync("api/v1/datasets/nope-" + Guid.NewGuid().ToString("n")[..8] + "/versions", File("a\n1\n", "a.csv"))).ErrorAsync(HttpStatusCode.NotFound,
            "dataset_not_found");
        await (await client.PostAsync("api/v1/datasets", Api.Json($$"""{"name": "{{name}}"}"""))).ErrorAsync(HttpStatusCode.Conflict, "dataset_exists");
        var shown = await (await client.GetAsync($"api/v1/datasets/{name}")).JsonAsync(HttpStatusCode.OK);
        Assert.Empty(shown["versions"]!.AsArray());
    }

    [Theory]
    [OnSqlite]
    public async Task Parquet_pictures_in_folders_and_chosen_types_are_read_and_kept_and_bombs_stop_at_the_limit(Db db)
    {
        _ = db;
        await using var server = await MaasTestServer.StartAsync(settings: new Dictionary<string, string?> { ["Maas:Datasets:MaxDecompressedBytes"] = "65536" });
        var client = server.Client;
        var name = Names.Unique("ds");
        await (await client.PostAsync("api/v1/datasets", Api.Json($$"""{"name": "{{name}}"}"""))).JsonAsync(HttpStatusCode.Created);

        // A chosen type is kept in the schema and used by every later read (the preview re-reads the file).
        var zips = await (await client.PostAsync($"api/v1/datasets/{name}/versions?schema=zip:string",
            File("zip,n\n2134,1\n90210,2\n", "zips.csv"))).JsonAsync(HttpStatusCode.Created);
        Assert.Equal(["zip:string", "n:number"], zips["schema"]!.AsArray().Select(c => $"{c!["name"]}:{c["type"]}"));
        var preview = await (await client.GetAsync($"api/v1/datasets/{name}/versions/1/preview")).JsonAsync(HttpStatusCode.OK);
        Assert.Equal("90210", (string?)preview["rows"]![1]!["zip"]);
        await (await client.PostAsync($"api/v1/datasets/{name}/versions?schema=zip:float", File("zip\n1\n", "z.csv"))).ErrorAsync(HttpStatusCode.BadRequest, "invalid_query");
        var unknown = await (await client.PostAsync($"api/v1/datasets/{name}/versions?schema=postcode:string", File("zip\n1\n", "z.csv"))).ErrorAsync(HttpStatusCode.BadRequest,
            "invalid_dataset");
        Assert.Contains("postcode", (string?)unknown["message"]);

        // Pictures of two sizes, resized to one; the size is kept for later reads.
        var pictures = DatasetFiles.Zip(
            ("cats/1.png", DatasetFiles.Png(8, 8, SkiaSharp.SKColors.Orange)),
            ("dogs/1.png", DatasetFiles.Png(6, 4, SkiaSharp.SKColors.Brown)));
        await (await client.PostAsync($"api/v1/datasets/{name}/versions", MaasTestServer.Artifact(pictures, "pets.zip"))).ErrorAsync(HttpStatusCode.BadRequest, "invalid_dataset");
        var pets = await (await client.PostAsync($"api/v1/datasets/{name}/versions?image_size=4x2",
            MaasTestServer.Artifact(pictures, "pets.zip"))).JsonAsync(HttpStatusCode.Created);
        Assert.Equal("image-folder", (string?)pets["format"]);
        Assert.Equal([2, 4, 3], pets["schema"]![0]!["shape"]!.AsArray().Select(d => (int)d!));
        var labels = pets["statistics"]!.AsArray().Single(s => (string?)s!["name"] == "label")!;
        Assert.Equal(1, (int)labels["class_balance"]!["cats"]!);
        var shown = await (await client.GetAsync($"api/v1/datasets/{name}/versions/{(int)pets["version"]!}/preview")).JsonAsync(HttpStatusCode.OK);
        Assert.Equal("dogs", (string?)shown["rows"]![1]!["label"]);
        Assert.Equal(2, shown["rows"]![1]!["image"]!.AsArray().Count);
        Assert.Equal(3, shown["rows"]![1]!["image"]![0]![0]!.AsArray().Count);

        var parquet = await (await client.PostAsync($"api/v1/datasets/{name}/versions",
            MaasTestServer.Artifact(await DatasetFiles.ParquetAsync([(1, "a", true, 0.5), (2, null, null, 1.5)]), "table.parquet"))).JsonAsync(HttpStatusCode.Created);
        Assert.Equal("parquet", (string?)parquet["format"]);
        Assert.Equal(2, (int)parquet["rows"]!);
        Assert.Equal(["id:number", "name:string", "flag:boolean", "score:number"], parquet["schema"]!.AsArray().Select(c => $"{c!["name"]}:{c["type"]}"));

        // 1 MiB of one CSV column gzipped to a few KiB: refused at the 64 KiB expansion limit.
        using var compressed = new MemoryStream();
        using (var gz = new System.IO.Compression.GZipStream(compressed, System.IO.Compression.CompressionLevel.SmallestSize, leaveOpen: true))
        {
            gz.Write(Encoding.ASCII.GetBytes("x\n" + string.Concat(Enumerable.Repeat("1\n", 1 << 19))));
        }

        var bomb = await (await client.PostAsync($"api/v1/datasets/{name}/versions",
            MaasTestServer.Artifact(compressed.ToArray(), "bomb.csv.gz"))).ErrorAsync(HttpStatusCode.RequestEntityTooLarge, "dataset_too_large");
        Assert.Equal(65536, (long)bomb["limit"]!);
        Assert.Contains("Maas:Datasets:MaxDecompressedBytes", (string?)bomb["message"]);
    }

    [Theory]
    [OnSqlite]
    public async Task A_description_with_a_control_character_is_refused_and_one_with_line_breaks_kept(Db db)
    {
        var client = (await servers.GetAsync(db)).Client;
        var name = Names.Unique("ds");
        var error = await (await client.PostAsync("api/v1/datasets", Api.Json($$"""{"name": "{{name}}", "description": "red\u001b[31m"}"""))).ErrorAsync(HttpStatusCode.BadRequest,
            "invalid_description");
        Assert.Contains("description has a control character (U+001B) at position 3", (string?)error["message"]);
        await (await client.GetAsync($"api/v1/datasets/{name}")).ErrorAsync(HttpStatusCode.NotFound, "dataset_not_found");

        var created = await (await client.PostAsync("api/v1/datasets",
            Api.Json($$"""{"name": "{{name}}", "description": "rows\tof\r\npoints"}"""))).JsonAsync(HttpStatusCode.Created);
        Assert.Equal("rows\tof\r\npoints", (string?)created["description"]);
    }

    [Theory]
    [OnSqlite]
    public async Task The_upload_limit_is_enforced_and_reported(Db db)
    {
        _ = db;
        await using var server = await MaasTestServer.StartAsync(settings: new Dictionary<string, string?> { ["Maas:Datasets:MaxUploadBytes"] = "2048" });
        var name = Names.Unique("ds");
        await (await server.Client.PostAsync("api/v1/datasets", Api.Json($$"""{"name": "{{name}}"}"""))).JsonAsync(HttpStatusCode.Created);
        var big = "x\n" + string.Concat(Enumerable.Repeat("123456789\n", 300));
        using var content = new StreamContent(new MemoryStream(Encoding.UTF8.GetBytes(big)));
        content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        content.Headers.Add("X-Maas-Filename", "big.csv");
        var error = await (await server.Client.PostAsync($"api/v1/datasets/{name}/versions", content)).ErrorAsync(HttpStatusCode.RequestEntityTooLarge, "upload_too_large");
        Assert.Equal(2048, (long)error["limit_bytes"]!);
        Assert.Contains("Maas:Datasets:MaxUploadBytes", (string?)error["message"]);
    }


    [Fact]
    public async Task The_column_limit_is_a_setting_enforced_on_every_table_format_and_reported()
    {
        await using var server = await MaasTestServer.StartAsync(settings: new Dictionary<string, string?> { ["Maas:Datasets:MaxColumns"] = "3" });
        var name = Names.Unique("ds");
        await (await server.Client.PostAsync("api/v1/datasets", Api.Json($$"""{"name": "{{name}}"}"""))).JsonAsync(HttpStatusCode.Created);
        foreach (var (file, text) in new[] { ("wide.csv", "a,b,c,d\n1,2,3,4\n"), ("wide.jsonl", "{\"a\": 1, \"b\": 2, \"c\": 3, \"d\": 4}\n") })
        {
            using var content = new StreamContent(new MemoryStream(Encoding.UTF8.GetBytes(text)));
            content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
            content.Headers.Add("X-Maas-Filename", file);
            var error = await (await server.Client.PostAsync($"api/v1/datasets/{name}/versions", content)).ErrorAsync(HttpStatusCode.BadRequest, "invalid_dataset");
            Assert.Contains("3", (string?)error["message"]);
            Assert.Contains("(Maas:Datasets:MaxColumns)", (string?)error["message"]);
        }

        using var narrow = new StreamContent(new MemoryStream(Encoding.UTF8.GetBytes("a,b,c\n1,2,3\n")));
        narrow.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        narrow.Headers.Add("X-Maas-Filename", "narrow.csv");
        await (await server.Client.PostAsync($"api/v1/datasets/{name}/versions", narrow)).JsonAsync(HttpStatusCode.Created);
    }
    [Theory]
    [OnSqlite]
    public async Task Tenants_see_their_own_and_shared_datasets_and_scopes_are_checked(Db db)
    {
        var server = await servers.GetAsync(db);
        var admin = server.Client;
        var priv = Names.Unique("ds");
        var shared = Names.Unique("ds");
        await (await admin.PostAsync("api/v1/datasets", Api.Json($$"""{"name": "{{priv}}"}"""))).JsonAsync(HttpStatusCode.Created);
        await (await admin.PostAsync("api/v1/datasets", Api.Json($$"""{"name": "{{shared}}", "visibility": "shared"}"""))).JsonAsync(HttpStatusCode.Created);
        await (await admin.PostAsync($"api/v1/datasets/{shared}/versions", File("a\n1\n", "a.csv"))).JsonAsync(HttpStatusCode.Created);

        var tenant = await server.NewTenantAsync();
        async Task<HttpClient> KeyAsync(params string[] scopes) => server.CreateClient(await server.NewKeyAsync(tenant, scopes));

        var writer = await KeyAsync(MaasScopes.DatasetsWrite);
        await (await writer.GetAsync($"api/v1/datasets/{priv}")).ErrorAsync(HttpStatusCode.NotFound, "dataset_not_found");
        await (await writer.GetAsync($"api/v1/datasets/{shared}/versions/1")).JsonAsync(HttpStatusCode.OK);
        await (await writer.PostAsync($"api/v1/datasets/{shared}/versions", File("a\n2\n", "a.csv"))).ErrorAsync(HttpStatusCode.Forbidden, "dataset_read_only");
        var own = Names.Unique("ds");
        var created = await (await writer.PostAsync("api/v1/datasets", Api.Json($$"""{"name": "{{own}}"}"""))).JsonAsync(HttpStatusCode.Created);
        Assert.Equal(tenant, (string?)created["owner"]);
        var listed = await (await writer.GetAsync("api/v1/datasets")).JsonAsync(HttpStatusCode.OK);
        var names = listed["datasets"]!.AsArray().Select(d => (string?)d!["name"]).ToArray();
        Assert.Contains(own, names);
        Assert.Contains(shared, names);
        Assert.DoesNotContain(priv, names);

        var reader = await KeyAsync(MaasScopes.DatasetsRead);
        await (await reader.GetAsync($"api/v1/datasets/{own}")).JsonAsync(HttpStatusCode.OK);
        await (await reader.PostAsync($"api/v1/datasets/{own}/versions", File("a\n1\n", "a.csv"))).ErrorAsync(HttpStatusCode.Forbidden, "insufficient_scope");
        var models = await KeyAsync(MaasScopes.ModelsWrite);
        await (await models.GetAsync("api/v1/datasets")).ErrorAsync(HttpStatusCode.Forbidden, "insufficient_scope");
    }

    [Theory]
    [OnSqlite]
    public async Task Deleting_a_version_and_a_dataset_removes_them(Db db)
    {
        var client = (await servers.GetAsync(db)).Client;
        var name = Names.Unique("ds");
        await (await client.PostAsync("api/v1/datasets", Api.Json($$"""{"name": "{{name}}"}"""))).JsonAsync(HttpStatusCode.Created);
        await (await client.PostAsync($"api/v1/datasets/{name}/versions", File("a\n1\n", "a.csv"))).JsonAsync(HttpStatusCode.Created);
        await (await client.PostAsync($"api/v1/datasets/{name}/versions", File("a\n2\n", "a.csv"))).JsonAsync(HttpStatusCode.Created);
        Assert.Equal(HttpStatusCode.NoContent, (await client.DeleteAsync($"api/v1/datasets/{name}/versions/1")).StatusCode);
        await (await client.GetAsync($"api/v1/datasets/{name}/versions/1")).ErrorAsync(HttpStatusCode.NotFound, "dataset_version_not_found");
        await (await client.GetAsync($"api/v1/datasets/{name}/versions/2")).JsonAsync(HttpStatusCode.OK);
        Assert.Equal(HttpStatusCode.NoContent, (await client.DeleteAsync($"api/v1/datasets/{name}")).StatusCode);
        await (await client.GetAsync($"api/v1/datasets/{name}")).ErrorAsync(HttpStatusCode.NotFound, "dataset_not_found");
    }
}
