using Maas.Core.Datasets;
using Maas.Testing;

namespace Maas.Core.Tests.Datasets;

/// <summary>
/// Parquet pages whose data is not the size their headers declare, and pages or chunks whose counts of values disagree
/// with their metadata, made by hand (<see cref="CraftedParquet"/>) and read through the dataset parser. Parquet.Net
/// expands a page into a pooled buffer of its declared size and reads pages until it has its chunk's values: short data
/// was read as a pooled buffer's leftovers or a short column, and a page of fewer values sent it on into the next
/// column's page. Each is a <see cref="DatasetFormatException"/> naming the row group, the column and the page.
/// </summary>
public sealed class ParquetPageBoundsTests
{
    // Every codec Parquet.Net expands, by its number in the format.
    public static TheoryData<int, string> Codecs() => new()
    {
        { 1, "SNAPPY" },
        { 2, "GZIP" },
        { 4, "BROTLI" },
        { 5, "LZ4" },
        { 6, "ZSTD" },
        { 7, "LZ4_RAW" },
    };

    private static DatasetTable Read(byte[] file) => DatasetParser.Parse(new MemoryStream(file), DatasetFormat.Parquet, gzip: false);

    private static string Refusal(byte[] file) => Assert.Throws<DatasetFormatException>(() => Read(file)).Message;

    [Theory]
    [MemberData(nameof(Codecs))]
    public void A_page_of_each_codec_that_expands_to_its_declared_size_is_read(int codec, string name)
    {
        var values = CraftedParquet.Ints(1, 2, 3);
        var table = Read(CraftedParquet.File(codec: codec, data: CraftedParquet.Compress(codec, values), uncompressed: values.Length, pageValues: 3, rows: 3));
        Assert.True(table.Rows.Select(r => r[0]).SequenceEqual([1.0, 2.0, 3.0]), name);
    }

    // The header says 12 bytes for three values; the data expands to the 8 of two. Brotli and LZ4 left the third value as
    // whatever the pooled buffer held; Gzip, Snappy and Zstd gave a page of two values.
    [Theory]
    [MemberData(nameof(Codecs))]
    public void A_page_that_expands_to_fewer_bytes_than_its_header_declares_is_refused(int codec, string name)
    {
        var file = CraftedParquet.File(codec: codec, data: CraftedParquet.Compress(codec, CraftedParquet.Ints(1, 2)), uncompressed: 12, pageValues: 3, rows: 3);
        Assert.Contains($"row group 0, column 'a': the page at byte 4 holds {name} data that expands to 8 bytes, but its header declares 12", Refusal(file));
    }

    // Definition levels of three defined values (bit width 1): an RLE run of three ones, as a data page v2 holds them.
    private static readonly byte[] ThreeDefined = [0x06, 0x01];

    [Theory]
    [MemberData(nameof(Codecs))]
    public void A_data_page_v2_of_each_codec_that_expands_to_its_declared_size_is_read(int codec, string name)
    {
        var data = CraftedParquet.Compress(codec, CraftedParquet.Ints(1, 2, 3));
        var table = Read(CraftedParquet.File(codec: codec, v2Levels: ThreeDefined, data: data, uncompressed: 2 + 12, pageValues: 3, rows: 3));
        Assert.True(table.Rows.Select(r => r[0]).SequenceEqual([1.0, 2.0, 3.0]), name);
    }

    // A data page v2's sizes count its uncompressed levels as well: 2 bytes of levels and 12 of values declared, 8 made.
    [Theory]
    [MemberData(nameof(Codecs))]
    public void A_data_page_v2_that_expands_to_fewer_bytes_than_its_header_declares_is_refused(int codec, string name)
    {
        var data = CraftedParquet.Compress(codec, CraftedParquet.Ints(1, 2));
        var file = CraftedParquet.File(codec: codec, v2Levels: ThreeDefined, data: data, uncompressed: 2 + 12, pageValues: 3, rows: 3);
        Assert.Contains($"row group 0, column 'a': the page at byte 4 holds {name} data that expands to 8 bytes after its 2 bytes of levels, but its header declares 12",
            Refusal(file));
    }

    [Fact]
    public void An_uncompressed_data_page_v2_whose_sizes_disagree_is_refused()
    {
        var file = CraftedParquet.File(v2Levels: ThreeDefined, data: CraftedParquet.Ints(1, 2, 3), uncompressed: 20, pageValues: 3, rows: 3);
        Assert.Contains("row group 0, column 'a': the page at byte 4 says its 3 values take 20 bytes, but it holds 14 bytes of uncompressed data", Refusal(file));
    }

    // The header says 8 bytes; the data expands to 12. Parquet.Net cut it at 8 (or at what the data said) without a word.
    [Theory]
    [InlineData(1, "holds SNAPPY data that expands to 12 bytes, but its header declares 8")]
    [InlineData(2, "holds GZIP data that expands to more than 8 bytes, but its header declares 8")]
    [InlineData(4, "holds BROTLI data that expands to more than 8 bytes, but its header declares 8")]
    [InlineData(5, "holds data that cannot be expanded as LZ4 (not an LZ4 block of at most 8 bytes)")]
    [InlineData(6, "holds ZSTD data that expands to more than 8 bytes, but its header declares 8")]
    [InlineData(7, "holds data that cannot be expanded as LZ4_RAW (not an LZ4 block of at most 8 bytes)")]
    public void A_page_that_expands_to_more_bytes_than_its_header_declares_is_refused(int codec, string expected)
    {
        var file = CraftedParquet.File(codec: codec, data: CraftedParquet.Compress(codec, CraftedParquet.Ints(1, 2, 3)), uncompressed: 8);
        Assert.Contains($"row group 0, column 'a': the page at byte 4 {expected}", Refusal(file));
    }

    // Data that is not of its codec at all (here the plain bytes of the values): a corrupt Zstd page threw ZstdException,
    // which no caller knew, and a bad LZ4 block was read as the pooled buffer's leftovers.
    [Theory]
    [MemberData(nameof(Codecs))]
    public void A_page_whose_data_is_not_of_its_codec_is_refused(int codec, string name)
    {
        var file = CraftedParquet.File(codec: codec, data: CraftedParquet.Ints(1, 2));
        var message = Refusal(file);
        Assert.True(message.Contains("row group 0, column 'a': the page at byte 4 holds", StringComparison.Ordinal) && message.Contains(name, StringComparison.Ordinal), message);
    }

    // An optional column's page whose levels define three values and whose data holds two: Parquet.Net counted the page
    // by its levels and left the third value as the buffer held it (a 0, or an empty text).
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void An_optional_page_whose_data_holds_fewer_values_than_its_levels_define_is_refused(bool text)
    {
        var data = text ? CraftedParquet.Texts("x", "y") : CraftedParquet.Ints(1, 2);
        var file = CraftedParquet.File(v2Levels: ThreeDefined, data: data, pageValues: 3, rows: 3, text: text);
        Assert.Contains("row group 0, column 'a': its pages' data held 2 values where their definition levels define 3", Refusal(file));
    }

    [Fact]
    public void An_optional_page_of_values_with_every_bit_set_is_read_and_one_short_of_them_is_refused()
    {
        // -1 is all bits set, as the slots are filled before the read: read again over zeros, it is told from a slot never written.
        var whole = CraftedParquet.File(v2Levels: ThreeDefined, data: CraftedParquet.Ints(-1, -1, -1), pageValues: 3, rows: 3);
        Assert.True(Read(whole).Rows.Select(r => r[0]).SequenceEqual([-1.0, -1.0, -1.0]));
        Assert.True(Read(CraftedParquet.File(v2Levels: ThreeDefined, data: CraftedParquet.Texts("x", "", "z"), pageValues: 3, rows: 3, text: true)).Rows.Select(r => r[0])
            .SequenceEqual(["x", "", "z"]));

        var short1 = CraftedParquet.File(v2Levels: ThreeDefined, data: CraftedParquet.Ints(-1, -1), pageValues: 3, rows: 3);
        Assert.Contains("row group 0, column 'a': its pages' data held 2 values where their definition levels define 3", Refusal(short1));
    }

    // Every compressed page is expanded to check its size: four pages of 400 bytes of text each (a row apiece, so the
    // table's cells cost little) under a limit of 1024 bytes are refused as a gzip file expanding past it is.
    [Fact]
    public async Task Compressed_pages_expanding_past_the_limit_together_are_refused_as_too_large()
    {
        var rows = Enumerable.Range(0, 4).Select(i => new[] { new string((char)('a' + i), 400) }).ToArray();
        var file = await DatasetFiles.TextParquetAsync(["t"], 1, rows);
        var options = new DatasetReadOptions { MaxDecompressedBytes = 1024 };
        var refused = Assert.Throws<DatasetTooLargeException>(() => DatasetParser.Parse(new MemoryStream(file), DatasetFormat.Parquet, gzip: false, options));
        Assert.Equal(1024, refused.Limit);
        Assert.Contains("the file expands to more than 1024 bytes (Maas:Datasets:MaxDecompressedBytes)", refused.Message);

        // Two of those pages are within it.
        var two = await DatasetFiles.TextParquetAsync(["t"], 1, rows[..2]);
        Assert.Equal(2, DatasetParser.Parse(new MemoryStream(two), DatasetFormat.Parquet, gzip: false, options).Rows.Count);
    }

    [Fact]
    public void A_page_compressed_with_lzo_is_refused_by_name()
    {
        // Parquet.Net throws NotImplementedException for LZO, which no caller caught.
        Assert.Contains("row group 0, column 'a': its pages are compressed with LZO, which this server does not read", Refusal(CraftedParquet.File(codec: 3)));
    }

    // Column a's page says three values but holds the 8 bytes of two: Parquet.Net read on from the end of a's chunk into
    // b's page and took b's first value (7) as a's third.
    [Fact]
    public void A_page_of_fewer_values_than_its_header_says_is_not_read_on_into_the_next_column()
    {
        var file = CraftedParquet.File(pageValues: 3, rows: 3, secondColumn: true);
        var whole = CraftedParquet.File(pageValues: 3, rows: 3, data: CraftedParquet.Ints(1, 2, 3), secondColumn: true);
        Assert.Equal([[1.0, 7.0], [2.0, 8.0], [3.0, 9.0]], Read(whole).Rows);


        // a's chunk is its page's 17-byte header and 8 bytes of data: bytes 4 to 29, where b's page begins.
        Assert.Contains("row group 0, column 'a': its pages gave fewer values than their headers and its metadata say, and reading went on after the page at byte 4 to a page " +
            "header at byte 29, outside its column chunk (bytes 4 to 29)", Refusal(file));
    }

    [Fact]
    public void A_column_chunk_said_to_take_the_next_one_s_bytes_is_refused()
    {
        // a's pages say 3 values and hold 2; its chunk said to run over b's page as well let Parquet.Net read b's value as
        // a's within a's bytes.
        // a's chunk is bytes 4 to 29, b's (a 17-byte header and 12 bytes of data) 29 to 58.
        var file = CraftedParquet.File(pageValues: 3, rows: 3, secondColumn: true, totalCompressed: 54);
        Assert.Contains("row group 0, column 'a': its pages (bytes 4 to 58) overlap those of row group 0, column 'b' (bytes 29 to 58)", Refusal(file));
    }

    [Fact]
    public void Pages_holding_more_values_than_their_chunk_are_refused()
    {
        // Parquet.Net decoded as many as the chunk's buffer took and dropped the rest.
        var file = CraftedParquet.File(pageValues: 3, rows: 2, data: CraftedParquet.Ints(1, 2, 3));
        Assert.Contains("row group 0, column 'a': its pages hold 3 values where its metadata says 2", Refusal(file));
    }

    [Theory]
    [InlineData(3, 2, "row group 0, column 'a': 3 values for 2 rows")]
    [InlineData(2, 3, "row group 0, column 'a': 2 values for 3 rows")]
    public void A_column_chunk_whose_values_are_not_its_row_group_s_rows_is_refused(int chunkValues, int rows, string expected)
    {
        var file = CraftedParquet.File(pageValues: chunkValues, chunkValues: chunkValues, rows: rows, data: CraftedParquet.Ints([.. Enumerable.Range(1, chunkValues)]));
        Assert.Contains(expected, Refusal(file));
    }

    [Fact]
    public void A_column_chunk_whose_size_cuts_its_page_is_refused()
    {
        // The chunk's 25 bytes (a 17-byte header and 8 of data) said to be 22: the page's data runs past the chunk.
        var file = CraftedParquet.File(totalCompressed: 22);
        Assert.Contains("row group 0, column 'a': the page at byte 4 declares 8 bytes where its column chunk has 5 bytes left", Refusal(file));
    }
}
