using System.Net;
using System.Text;
using Maas.Server.Tests.Support;
using Maas.Testing;
using Microsoft.Extensions.Options;

namespace Maas.Server.Tests.Datasets;

/// <summary>
/// The field and row limits of the text formats and of Parquet text (Maas:Datasets:MaxFieldBytes, MaxRowBytes): a row or
/// a field of hundreds of megabytes was read whole; now an upload over either gets a 400 naming the limit, its value and
/// the row.
/// </summary>
public sealed class DatasetRowLimitTests
{
    private static readonly Dictionary<string, string?> Small = new()
    {
        ["Maas:Datasets:MaxFieldBytes"] = "64",
        ["Maas:Datasets:MaxRowBytes"] = "256",
    };

    private static TheoryData<string, string, string, string, int, int> OverTheLimits() => new()
    {
        // file name, text, setting, message part, line, row
        { "field.csv", $"a,b\n1,2\n3,{new string('x', 65)}\n", "MaxFieldBytes", "line 3 (row 2): field 2 is longer than the limit of 64 bytes", 3, 2 },

        // Bytes, not characters: 33 'é' are 66 bytes of UTF-8; the quotes and separators inside a quoted field count.
        { "quoted.csv", $"a,b\n\"{new string('é', 33)}\",1\n", "MaxFieldBytes", "line 2 (row 1): field 1 is longer than the limit of 64 bytes", 2, 1 },
        { "header.csv", $"a,{new string('n', 65)}\n1,2\n", "MaxFieldBytes", "line 1 (the header): field 2 is longer than the limit of 64 bytes", 1, 0 },

        // A quoted field spanning lines is named by the line it starts on.
        { "multiline.csv", $"a,b\n1,\"x\n{new string('y', 70)}\"\n", "MaxFieldBytes", "line 2 (row 1): field 2 is longer", 2, 1 },

        // Fields each within their limit, together over the row's.
        { "row.tsv", $"a\tb\tc\td\te\n{string.Join('\t', Enumerable.Repeat(new string('z', 60), 5))}\n", "MaxRowBytes",
        "line 2 (row 1): the row is longer than the limit of 256 bytes", 2, 1 },

        // Blank lines are no rows.
        { "value.jsonl", $"{{\"a\": 1}}\n\n{{\"a\": \"{new string('v', 65)}\"}}\n", "MaxFieldBytes", "line 3 (row 2): the value of key 'a' is longer than the limit of 64 bytes",
        3, 2 },
        { "key.jsonl", $"{{\"{new string('k', 65)}\": 1}}\n", "MaxFieldBytes", "line 1 (row 1): key 'kkkk", 1, 1 },
        { "line.jsonl", $"{{\"a\": 1}}\n{{\"a\": \"{new string('v', 60)}\", \"b\": \"{new string('v', 60)}\", \"c\": \"{new string('v', 60)}\", \"d\": " +
            $"\"{new string('v', 60)}\"}}\n", "MaxRowBytes", "line 2 (row 2): the row is longer than the limit of 256 bytes", 2, 2 },

        // An escaped string is measured as the text it is read as: 40 "\u00e9" are 240 bytes of JSON but 80 of text.
        { "escaped.jsonl", $"{{\"a\": \"{string.Concat(Enumerable.Repeat("\\u00e9", 40))}\"}}\n", "MaxFieldBytes",
        "line 1 (row 1): the value of key 'a' is longer than the limit of 64 bytes", 1, 1 },
    };

    [Fact]
    public async Task A_field_or_row_over_its_limit_gets_400_naming_the_limit_its_value_and_the_row()
    {
        await using var server = await MaasTestServer.StartAsync(settings: Small);
        var name = await CreateAsync(server.Client);
        foreach (var item in OverTheLimits())
        {
            var (file, text, setting, expected, line, row) = ((string)item[0], (string)item[1], (string)item[2], (string)item[3], (int)item[4], (int)item[5]);
            var error = await (await server.Client.PostAsync($"api/v1/datasets/{name}/versions",
                MaasTestServer.Artifact(Encoding.UTF8.GetBytes(text), file))).ErrorAsync(HttpStatusCode.BadRequest, "invalid_dataset");
            var message = (string?)error["message"];
            Assert.True(message!.Contains(expected, StringComparison.Ordinal) && message.Contains($"(Maas:Datasets:{setting})", StringComparison.Ordinal), $"{file}: {message}");
            Assert.Equal($"Maas:Datasets:{setting}", (string?)error["setting"]);
            Assert.Equal(setting == "MaxFieldBytes" ? 64 : 256, (int)error["limit"]!);
            Assert.Equal((line, row), ((int)error["line"]!, (int)error["row"]!));

            // The same file gzipped is measured as it expands.
            var gzipped = await (await server.Client.PostAsync($"api/v1/datasets/{name}/versions",
                MaasTestServer.Artifact(Gzip(text), file + ".gz"))).ErrorAsync(HttpStatusCode.BadRequest, "invalid_dataset");
            Assert.True(((string?)gzipped["message"])!.Contains(expected, StringComparison.Ordinal), $"{file}.gz: {gzipped["message"]}");
        }
    }

    [Fact]
    public async Task Fields_and_rows_at_their_limits_are_read()
    {
        await using var server = await MaasTestServer.StartAsync(settings: Small);
        var name = await CreateAsync(server.Client);

        // A 64-byte field (32 two-byte letters), a row of exactly 256 bytes, a long line end that is no part of it.
        var field = new string('é', 32);
        var wide = string.Join(',', Enumerable.Repeat(new string('w', 63), 4)); // 4 * 63 + 3 = 255 bytes
        var csv = $"a,b,c,d\n{field},2,3,4\n{wide}x\r\n";
        var version = await (await server.Client.PostAsync($"api/v1/datasets/{name}/versions",
            MaasTestServer.Artifact(Encoding.UTF8.GetBytes(csv), "edge.csv"))).JsonAsync(HttpStatusCode.Created);
        Assert.Equal(2, (int)version["rows"]!);

        var jsonl = $"{{\"a\": \"{field}\"}}\n";
        await (await server.Client.PostAsync($"api/v1/datasets/{name}/versions",
            MaasTestServer.Artifact(Encoding.UTF8.GetBytes(jsonl), "edge.jsonl"))).JsonAsync(HttpStatusCode.Created);
    }

    // Parquet text was held only to MaxDecompressedBytes: a cell, a row's text cells together or a column name of any
    // length below it was read. Now each is held to the text formats' limits, the refusal naming the row and the column.
    private static TheoryData<string, string[], string?[][], string, string, int, string> ParquetOverTheLimits() => new()
    {
        // case, columns, rows (two to a row group), setting, message part, row, column
        { "cell", ["a", "b"], [["x", "y"], ["z", "w"], ["v", new string('x', 65)]], "MaxFieldBytes",
        "row 3 (row group 1): the value of column 'b' is longer than the limit of 64 bytes", 3, "b" },

        // Bytes, not characters: 33 'é' are 66 bytes of UTF-8.
        { "bytes", ["a"], [[new string('é', 33)]], "MaxFieldBytes", "row 1 (row group 0): the value of column 'a' is longer than the limit of 64 bytes", 1, "a" },

        // Cells each within their limit, together over the row's: refused at the column that takes the row over.
        { "row", ["a", "b", "c", "d", "e"], [["1", "2", "3", "4", "5"], [.. Enumerable.Repeat(new string('z', 60), 5)]], "MaxRowBytes",
        "row 2 (row group 0): the text of the row, through column 'e', is longer than the limit of 256 bytes", 2, "e" },

        // Missing cells count for nothing; the row is the file's, not the group's.
        { "later", ["a", "b", "c", "d", "e"], [[null, null, null, null, null], ["1", null, "3", null, "5"], [.. Enumerable.Repeat(new string('z', 60), 5)]], "MaxRowBytes",
        "row 3 (row group 1): the text of the row, through column 'e'", 3, "e" },

        // The column names are the table's header, as a CSV file's first line.
        { "name", ["a", new string('n', 65)], [["1", "2"]], "MaxFieldBytes", "column 2 (the header): its name is longer than the limit of 64 bytes", 0, new string('n', 65) },
        { "names", [.. Enumerable.Range(0, 5).Select(i => $"{i}{new string('n', 59)}")], [["1", "2", "3", "4", "5"]], "MaxRowBytes",
        "column 5 (the header): the column names so far are longer than the limit of 256 bytes", 0, $"4{new string('n', 59)}" },
    };

    [Fact]
    public async Task A_parquet_text_cell_row_or_column_name_over_its_limit_gets_400_naming_the_limit_the_row_and_the_column()
    {
        await using var server = await MaasTestServer.StartAsync(settings: Small);
        var name = await CreateAsync(server.Client);
        foreach (var item in ParquetOverTheLimits())
        {
            var (what, columns, rows, setting, expected, row, column) = ((string)item[0], (string[])item[1], (string?[][])item[2], (string)item[3], (string)item[4], (int)item[5],
                (string)item[6]);
            var file = await DatasetFiles.TextParquetAsync(columns, 2, rows);
            var error = await (await server.Client.PostAsync($"api/v1/datasets/{name}/versions",
                MaasTestServer.Artifact(file, $"{what}.parquet"))).ErrorAsync(HttpStatusCode.BadRequest, "invalid_dataset");
            var message = (string?)error["message"];
            Assert.True(message!.Contains(expected, StringComparison.Ordinal) && message.Contains($"(Maas:Datasets:{setting})", StringComparison.Ordinal), $"{what}: {message}");
            Assert.Equal($"Maas:Datasets:{setting}", (string?)error["setting"]);
            Assert.Equal(setting == "MaxFieldBytes" ? 64 : 256, (int)error["limit"]!);
            Assert.Equal((row, column), ((int)error["row"]!, (string?)error["column"]));
        }
    }

    [Fact]
    public async Task Parquet_text_at_its_limits_is_read()
    {
        await using var server = await MaasTestServer.StartAsync(settings: Small);
        var name = await CreateAsync(server.Client);

        // A 64-byte cell (32 two-byte letters) and a row of exactly 256 bytes of text.
        var field = new string('é', 32);
        var file = await DatasetFiles.TextParquetAsync(["a", "b", "c", "d"], 1, [field, "2", "3", "4"], [.. Enumerable.Repeat(new string('w', 64), 4)]);
        var version = await (await server.Client.PostAsync($"api/v1/datasets/{name}/versions", MaasTestServer.Artifact(file, "edge.parquet"))).JsonAsync(HttpStatusCode.Created);
        Assert.Equal(2, (int)version["rows"]!);
        var preview = await (await server.Client.GetAsync($"api/v1/datasets/{name}/versions/1/preview")).JsonAsync(HttpStatusCode.OK);
        Assert.Equal(field, (string?)preview["rows"]![0]!["a"]);
    }

    [Fact]
    public async Task Versions_stored_under_higher_limits_still_load_after_they_are_lowered()
    {
        using var data = new TempDirectory("maas-dataset-limits");
        var name = Names.Unique("ds");
        var value = new string('q', 500);
        await using (var server = await MaasTestServer.StartAsync(dataDir: data.Path))
        {
            await CreateAsync(server.Client, name);
            await (await server.Client.PostAsync($"api/v1/datasets/{name}/versions",
                MaasTestServer.Artifact(Encoding.UTF8.GetBytes($"a,b\n{value},1\n"), "wide.csv"))).JsonAsync(HttpStatusCode.Created);
            await (await server.Client.PostAsync($"api/v1/datasets/{name}/versions",
                MaasTestServer.Artifact(Encoding.UTF8.GetBytes($"{{\"a\": \"{value}\"}}\n"), "wide.jsonl"))).JsonAsync(HttpStatusCode.Created);
            await (await server.Client.PostAsync($"api/v1/datasets/{name}/versions",
                MaasTestServer.Artifact(await DatasetFiles.TextParquetAsync(["a"], 1, [value]), "wide.parquet"))).JsonAsync(HttpStatusCode.Created);
        }

        await using (var restarted = await MaasTestServer.StartAsync(dataDir: data.Path, settings: Small))
        {
            foreach (var version in new[] { 1, 2, 3 })
            {
                var preview = await (await restarted.Client.GetAsync($"api/v1/datasets/{name}/versions/{version}/preview")).JsonAsync(HttpStatusCode.OK);
                Assert.Equal(value, (string?)preview["rows"]![0]!["a"]);
            }

            // A new upload of the same file is held to the new limits.
            await (await restarted.Client.PostAsync($"api/v1/datasets/{name}/versions",
                MaasTestServer.Artifact(Encoding.UTF8.GetBytes($"a,b\n{value},1\n"), "wide.csv"))).ErrorAsync(HttpStatusCode.BadRequest, "invalid_dataset");
            await (await restarted.Client.PostAsync($"api/v1/datasets/{name}/versions",
                MaasTestServer.Artifact(await DatasetFiles.TextParquetAsync(["a"], 1, [value]), "wide.parquet"))).ErrorAsync(HttpStatusCode.BadRequest, "invalid_dataset");
        }
    }

    [Theory]
    [InlineData("Maas:Datasets:MaxFieldBytes", "0", "Maas:Datasets:MaxFieldBytes must be between 1 and 1073741824, not 0")]
    [InlineData("Maas:Datasets:MaxRowBytes", "2000000000", "Maas:Datasets:MaxRowBytes must be between 1 and 1073741824, not 2000000000")]
    [InlineData("Maas:Datasets:MaxRowBytes", "1000", "Maas:Datasets:MaxFieldBytes (1048576) must not be more than Maas:Datasets:MaxRowBytes (1000)")]
    public async Task Bad_limits_stop_the_start_naming_the_setting(string key, string value, string expected)
    {
        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => MaasTestServer.StartAsync(settings: new Dictionary<string, string?> { [key] = value }));
        Assert.Contains(expected, error.Message);
    }

    // CSV header names are trimmed, must not be blank and must differ; JSON Lines keys and Parquet fields kept their
    // spaces, so " a" and "a" were two columns a schema override (which trims) or a feature list could not tell apart.
    [Fact]
    public async Task Json_lines_keys_and_parquet_fields_are_trimmed_as_csv_header_names_are()
    {
        await using var server = await MaasTestServer.StartAsync();
        var name = await CreateAsync(server.Client);

        var jsonl = await (await server.Client.PostAsync($"api/v1/datasets/{name}/versions?schema=a:string",
            MaasTestServer.Artifact(Encoding.UTF8.GetBytes("{\" a \": 1, \"b\": 2}\n{\"a\": 3}\n"), "spaced.jsonl"))).JsonAsync(HttpStatusCode.Created);
        Assert.Equal(["a", "b"], jsonl["schema"]!.AsArray().Select(c => (string?)c!["name"]));
        Assert.Equal("string", (string?)jsonl["schema"]![0]!["type"]);
        var preview = await (await server.Client.GetAsync($"api/v1/datasets/{name}/versions/1/preview")).JsonAsync(HttpStatusCode.OK);
        Assert.Equal("3", (string?)preview["rows"]![1]!["a"]);

        var twice = await (await server.Client.PostAsync($"api/v1/datasets/{name}/versions",
            MaasTestServer.Artifact(Encoding.UTF8.GetBytes("{\"a\": 1}\n{\"a\": 1, \"a \": 2}\n"), "twice.jsonl"))).ErrorAsync(HttpStatusCode.BadRequest, "invalid_dataset");
        Assert.Contains("line 2: key 'a' appears twice", (string?)twice["message"]);

        var parquet = await (await server.Client.PostAsync($"api/v1/datasets/{name}/versions",
            MaasTestServer.Artifact(await DatasetFiles.TwoColumnParquetAsync(" a ", "b"), "spaced.parquet"))).JsonAsync(HttpStatusCode.Created);
        Assert.Equal(["a", "b"], parquet["schema"]!.AsArray().Select(c => (string?)c!["name"]));
        var parquetPreview = await (await server.Client.GetAsync($"api/v1/datasets/{name}/versions/2/preview")).JsonAsync(HttpStatusCode.OK);
        Assert.Equal(2.0, (double)parquetPreview["rows"]![1]!["a"]!);

        var parquetTwice = await (await server.Client.PostAsync($"api/v1/datasets/{name}/versions",
            MaasTestServer.Artifact(await DatasetFiles.TwoColumnParquetAsync("a", "a "), "twice.parquet"))).ErrorAsync(HttpStatusCode.BadRequest, "invalid_dataset");
        Assert.Contains("column name 'a' appears twice", (string?)parquetTwice["message"]);
    }

    private static byte[] Gzip(string text)
    {
        using var output = new MemoryStream();
        using (var gzip = new System.IO.Compression.GZipStream(output, System.IO.Compression.CompressionLevel.Fastest))
        {
            gzip.Write(Encoding.UTF8.GetBytes(text));
        }

        return output.ToArray();
    }

    private static async Task<string> CreateAsync(HttpClient client, string? name = null)
    {
        name ??= Names.Unique("ds");
        await (await client.PostAsync("api/v1/datasets", Api.Json($$"""{"name": "{{name}}"}"""))).JsonAsync(HttpStatusCode.Created);
        return name;
    }
}
