using System.Net;
using System.Text;
using Maas.Server.Tests.Support;
using Maas.Testing;

namespace Maas.Server.Tests.Datasets;

/// <summary>Files made to break the readers: each gets a 400 naming what is wrong, never a 500 or a request that never ends.</summary>
public sealed class DatasetHostileFileTests(ServerPerDb servers) : IClassFixture<ServerPerDb>
{
    // A generous bound, so a reader that never stops fails the test instead of hanging the run.
    private static readonly TimeSpan NoHang = TimeSpan.FromSeconds(90);

    private static byte[] Framed(byte[] footer, int? declaredLength = null) =>
        [.. "PAR1"u8, 1, 2, 3, 4, .. footer, .. BitConverter.GetBytes(declaredLength ?? footer.Length), .. "PAR1"u8];

    public static TheoryData<string, byte[], string> BrokenParquetFooters() => new()
    {
        // Parquet.Net's Thrift reader spun for ever on a varint running past the end of the footer: a 20-byte upload
        // held a server thread at full CPU.
        { "a footer that runs out mid-struct", Framed([5, 6, 7, 8]), "footer metadata" },
        { "a varint that runs past the footer", Framed([0x15, 0xFF, 0xFF]), "cut short" },
        { "a list longer than the footer", Framed([0x19, 0xFC, 0x7F, 0x00]), "declares" },
        { "a footer longer than the file", Framed([0], declaredLength: 0x7F000000), "footer length is" },
        { "a negative footer length", Framed([0], declaredLength: -5), "footer length is -5" },
        { "bytes after the footer's end", Framed([0x00, 0x00]), "ends after 1 of its 2 bytes" },
        { "an unknown Thrift type", Framed([0x1E, 0x00]), "unknown Thrift type 14" },
        { "too short", [.. "PAR1"u8, .. "PAR1"u8], "too short" },
    };

    [Theory]
    [MemberData(nameof(BrokenParquetFooters))]
    public async Task A_parquet_file_with_a_broken_footer_gets_400_instead_of_spinning(string problem, byte[] file, string expected)
    {
        await UploadIsRefusedAsync(problem, file, expected);
    }

    [Fact]
    public async Task A_parquet_file_cut_inside_its_footer_gets_400_and_a_whole_one_is_still_read()
    {
        var client = (await servers.GetAsync(Db.Sqlite)).Client;
        var name = Names.Unique("ds");
        await (await client.PostAsync("api/v1/datasets", Api.Json($$"""{"name": "{{name}}"}"""))).JsonAsync(HttpStatusCode.Created);
        var whole = await DatasetFiles.ParquetAsync([(1, "a", true, 0.5), (2, null, null, 1.5)]);
        var footerLength = BitConverter.ToInt32(whole, whole.Length - 8);

        // The footer's last half dropped and its length said to match: the metadata ends mid-struct.
        var half = footerLength / 2;
        byte[] cut = [.. whole.AsSpan(0, whole.Length - 8 - footerLength + half), .. BitConverter.GetBytes(half), .. "PAR1"u8];
        using var timeout = new CancellationTokenSource(NoHang);
        using var refused = await client.PostAsync($"api/v1/datasets/{name}/versions", MaasTestServer.Artifact(cut, "cut.parquet"), timeout.Token);
        await refused.ErrorAsync(HttpStatusCode.BadRequest, "invalid_dataset");

        var read = await (await client.PostAsync($"api/v1/datasets/{name}/versions", MaasTestServer.Artifact(whole, "whole.parquet"),
            timeout.Token)).JsonAsync(HttpStatusCode.Created);
        Assert.Equal(2, (int)read["rows"]!);
    }

    // Page headers are read by Parquet.Net from page to page by the sizes they declare, until the column chunk's values
    // are read: a header past the end of the file spun for ever on 0xFF bytes, and sizes and counts were allocated as
    // given. Each file is made by hand around one column chunk of one page; the first is whole and must be read.
    public static TheoryData<string, byte[], string> BrokenParquetPages() => new()
    {
        { "a page larger than its column chunk", CraftedParquet.File(compressed: 1_000_000), "declares 1000000 bytes where its column chunk has 8 bytes left" },
        { "a negative page size", CraftedParquet.File(compressed: -5), "declares a negative one" },
        { "an absurd uncompressed size", CraftedParquet.File(uncompressed: int.MaxValue), $"declares {int.MaxValue} bytes uncompressed, over the limit of" },
        { "pages that end before the chunk's values", CraftedParquet.File(pageValues: 1, rows: 2), "its pages end at byte 29 with 1 of its 2 values" },
        { "a page of no values and no bytes", CraftedParquet.File(pageValues: 0, data: []), "with 0 of its 2 values" },
        { "a chunk longer than the file", CraftedParquet.File(totalCompressed: 5_000_000), "its pages are said to take 5000000 bytes from byte 4" },
        { "a chunk starting past the file", CraftedParquet.File(dataPageOffset: 9_000_000), "its pages start at byte 9000000, outside the file's data" },
        { "a chunk starting inside the magic", CraftedParquet.File(dataPageOffset: 1), "its pages start at byte 1" },
        { "a dictionary of absurd size", CraftedParquet.File(dictionaryEntries: 2_000_000_000), "a dictionary page of 2000000000 entries for 2 values" },
        { "a header field longer than the chunk", CraftedParquet.File(headerBinary: 1_000_000_000), "runs past the end of its column chunk" },
        { "Snappy data claiming a huge size", CraftedParquet.File(codec: 1, data: [0x80, 0x94, 0xEB, 0xDC, 0x03, 0, 0, 0]),
        "holds SNAPPY data that expands to 1000000000 bytes, but its header declares 8" },
        { "an unknown page type", CraftedParquet.File(pageType: 7), "is of page type 7" },

        // Parquet.Net fills the rows a chunk has no values for from a pooled buffer: another read's leftovers.
        { "a chunk of fewer values than its row group's rows", CraftedParquet.File(rows: 3, chunkValues: 2), "row group 0, column 'a': 2 values for 3 rows" },

        // Parquet.Net expands a page into a buffer of the size its header declares: 8 bytes of data said to be 12 left the
        // third value of a required column as whatever the pooled buffer held (a 0, or another read's leftovers).
        { "a page whose data is shorter than its declared size", CraftedParquet.File(pageValues: 3, rows: 3, uncompressed: 12),
        "row group 0, column 'a': the page at byte 4 says its 3 values take 12 bytes, but it holds 8 bytes of uncompressed data" },

        // So does compressed data that expands to less than its header declares (Brotli and LZ4 left the rest as the
        // buffer's leftovers; Gzip, Snappy and Zstd gave a short page), for every codec Parquet.Net expands.
        { "Snappy data shorter than declared", ShortPage(1), "the page at byte 4 holds SNAPPY data that expands to 8 bytes, but its header declares 12" },
        { "Gzip data shorter than declared", ShortPage(2), "the page at byte 4 holds GZIP data that expands to 8 bytes, but its header declares 12" },
        { "Brotli data shorter than declared", ShortPage(4), "the page at byte 4 holds BROTLI data that expands to 8 bytes, but its header declares 12" },
        { "LZ4 data shorter than declared", ShortPage(5), "the page at byte 4 holds LZ4 data that expands to 8 bytes, but its header declares 12" },
        { "Zstd data shorter than declared", ShortPage(6), "the page at byte 4 holds ZSTD data that expands to 8 bytes, but its header declares 12" },
        { "LZ4_RAW data shorter than declared", ShortPage(7), "the page at byte 4 holds LZ4_RAW data that expands to 8 bytes, but its header declares 12" },

        // Parquet.Net threw exceptions no caller knew for these: a 500.
        { "Zstd data that is not Zstd", CraftedParquet.File(codec: 6), "the page at byte 4 holds data that cannot be expanded as ZSTD" },
        { "LZO pages", CraftedParquet.File(codec: 3), "its pages are compressed with LZO, which this server does not read" },

        // Column a's page says 3 values and holds 2: Parquet.Net read on into b's page and took its 7 as a's third value.
        { "a page of fewer values than its header says", CraftedParquet.File(pageValues: 3, rows: 3, secondColumn: true), "row group 0, column 'a': its pages gave fewer values " +
            "than their headers and its metadata say, and reading went on after the page at byte 4 to a page header at byte 29, outside its column chunk (bytes 4 to 29)" },
        { "a chunk said to run over the next one's page", CraftedParquet.File(pageValues: 3, rows: 3, secondColumn: true, totalCompressed: 54),
        "row group 0, column 'a': its pages (bytes 4 to 58) overlap those of row group 0, column 'b' (bytes 29 to 58)" },
        { "an optional page whose data holds fewer values than its levels define", CraftedParquet.File(v2Levels: [0x06, 0x01], data: CraftedParquet.Ints(1, 2), pageValues: 3,
        rows: 3), "row group 0, column 'a': its pages' data held 2 values where their definition levels define 3" },
        { "pages of more values than their chunk", CraftedParquet.File(pageValues: 3, rows: 2, data: CraftedParquet.Ints(1, 2, 3)),
        "row group 0, column 'a': its pages hold 3 values where its metadata says 2" },
    };

    // One column chunk of three rows whose page says its values take 12 bytes, compressed with codec; its data expands to 8.
    private static byte[] ShortPage(int codec) =>
        CraftedParquet.File(codec: codec, data: CraftedParquet.Compress(codec, CraftedParquet.Ints(1, 2)), uncompressed: 12, pageValues: 3, rows: 3);

    [Fact]
    public async Task A_parquet_file_made_by_hand_is_read_as_written()
    {
        var client = (await servers.GetAsync(Db.Sqlite)).Client;
        var name = Names.Unique("ds");
        await (await client.PostAsync("api/v1/datasets", Api.Json($$"""{"name": "{{name}}"}"""))).JsonAsync(HttpStatusCode.Created);
        using var timeout = new CancellationTokenSource(NoHang);
        var version = await (await client.PostAsync($"api/v1/datasets/{name}/versions", MaasTestServer.Artifact(CraftedParquet.File(), "made.parquet"),
            timeout.Token)).JsonAsync(HttpStatusCode.Created);
        Assert.Equal(2, (int)version["rows"]!);
        var preview = await (await client.GetAsync($"api/v1/datasets/{name}/versions/1/preview", timeout.Token)).JsonAsync(HttpStatusCode.OK);
        Assert.Equal([1.0, 2.0], preview["rows"]!.AsArray().Select(r => (double)r!["a"]!));
    }

    [Theory]
    [MemberData(nameof(BrokenParquetPages))]
    public async Task A_parquet_file_with_a_broken_page_header_gets_400_instead_of_spinning(string problem, byte[] file, string expected)
    {
        await UploadIsRefusedAsync(problem, file, expected);
    }

    // A CSV header refuses these; a Parquet schema with them was read, and a preview row (keyed by column name) kept one
    // of the two values.
    [Theory]
    [InlineData("a", "a", "column name 'a' appears twice")]
    [InlineData("a", " ", "column 2 has no name")]
    public async Task A_parquet_file_with_a_repeated_or_blank_column_name_gets_400(string first, string second, string expected)
    {
        var client = (await servers.GetAsync(Db.Sqlite)).Client;
        var name = Names.Unique("ds");
        await (await client.PostAsync("api/v1/datasets", Api.Json($$"""{"name": "{{name}}"}"""))).JsonAsync(HttpStatusCode.Created);
        var file = await DatasetFiles.TwoColumnParquetAsync(first, second);
        var error = await (await client.PostAsync($"api/v1/datasets/{name}/versions", MaasTestServer.Artifact(file, "twice.parquet"))).ErrorAsync(HttpStatusCode.BadRequest,
            "invalid_dataset");
        Assert.Contains(expected, (string?)error["message"]);
    }

    // "\ud800" is valid JSON but no text: reading it as a key or a string threw InvalidOperationException, a 500.
    [Theory]
    [InlineData("{\"a\": 1}\n{\"\\ud800\": 2}\n")]
    [InlineData("{\"a\": \"x\"}\n{\"a\": \"\\udc00\"}\n")]
    public async Task A_json_lines_key_or_string_with_a_lone_surrogate_gets_400_naming_the_line(string jsonl)
    {
        var server = await servers.GetAsync(Db.Sqlite);
        var client = server.Client;
        var name = Names.Unique("ds");
        await (await client.PostAsync("api/v1/datasets", Api.Json($$"""{"name": "{{name}}"}"""))).JsonAsync(HttpStatusCode.Created);
        var error = await (await client.PostAsync($"api/v1/datasets/{name}/versions",
            MaasTestServer.Artifact(Encoding.UTF8.GetBytes(jsonl), "rows.jsonl"))).ErrorAsync(HttpStatusCode.BadRequest, "invalid_dataset");
        Assert.Contains("line 2: a key or string cannot be read as text", (string?)error["message"]);

        // The predict route reads JSON Lines rows with the same parser.
        var model = Names.Unique("m");
        await Maas.Server.Tests.TensorInference.InferenceHost.RegisterAsync(server, model,
            Maas.Core.Formats.Onnx.OnnxModelWriter.Identity(Maas.Core.Formats.Onnx.OnnxElementType.Float, "batch", 2).ToBytes());
        using var content = new StringContent(jsonl, Encoding.UTF8, "application/jsonl");
        var predict = await (await client.PostAsync($"api/v1/models/{model}/predict", content)).ErrorAsync(HttpStatusCode.BadRequest, "invalid_input");
        Assert.Contains("line 2: a key or string cannot be read as text", (string?)predict["message"]);
    }

    // Uploads a hostile Parquet file as a new dataset's version: a 400 naming the problem, within the no-hang budget.
    private async Task UploadIsRefusedAsync(string problem, byte[] file, string expected)
    {
        var client = (await servers.GetAsync(Db.Sqlite)).Client;
        var name = Names.Unique("ds");
        await (await client.PostAsync("api/v1/datasets", Api.Json($$"""{"name": "{{name}}"}"""))).JsonAsync(HttpStatusCode.Created);
        using var timeout = new CancellationTokenSource(NoHang);
        using var response = await client.PostAsync($"api/v1/datasets/{name}/versions", MaasTestServer.Artifact(file, "broken.parquet"), timeout.Token);
        var error = await response.ErrorAsync(HttpStatusCode.BadRequest, "invalid_dataset");
        Assert.True(((string?)error["message"])!.Contains(expected, StringComparison.Ordinal), $"{problem}: {error["message"]}");
    }
}
