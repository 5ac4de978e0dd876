using System.IO.Compression;
using System.Text;
using Maas.Core.Datasets;

namespace Maas.Core.Tests.Datasets;

public sealed class DatasetParserTests
{
    private static DatasetTable Parse(string text, DatasetFormat format, bool gzip = false) =>
        DatasetParser.Parse(new MemoryStream(Encoding.UTF8.GetBytes(text)), format, gzip);

    [Fact]
    public void Csv_infers_types_keeps_quoted_separators_and_reads_missing_values_as_null()
    {
        var table = Parse("x,name,flag,note\n1.5,\"a, b\",true,\"say \"\"hi\"\"\"\n,NA,false,\"two\nlines\"\n-3e2,c,,z\n", DatasetFormat.Csv);
        Assert.Equal(["x", "name", "flag", "note"], table.Columns.Select(c => c.Name));
        Assert.Equal([DatasetColumnType.Number, DatasetColumnType.String, DatasetColumnType.Boolean, DatasetColumnType.String], table.Columns.Select(c => c.Type));
        Assert.Equal(3, table.Rows.Count);
        Assert.Equal(1.5, table.Rows[0][0]);
        Assert.Equal("a, b", table.Rows[0][1]);
        Assert.Equal("say \"hi\"", table.Rows[0][3]);
        Assert.Null(table.Rows[1][0]);
        Assert.Equal("two\nlines", table.Rows[1][3]);
        Assert.Equal(-300.0, table.Rows[2][0]);
        Assert.Null(table.Rows[2][2]);
    }

    public static TheoryData<string, bool> Encodings => new()
    {
        { "utf-8", false }, { "utf-8", true }, { "utf-16LE", true }, { "utf-16BE", true }, { "utf-32LE", true }, { "utf-32BE", true },
    };

    [Theory]
    [MemberData(nameof(Encodings))]
    public void Text_files_with_a_byte_order_mark_are_read_in_its_encoding_plain_or_gzipped(string name, bool mark)
    {
        var encoding = Encoding.GetEncoding(name);
        byte[] Bytes(string text) => (mark ? encoding.GetPreamble() : []).Concat(encoding.GetBytes(text)).ToArray();

        // Accents, a character outside the BMP (a surrogate pair in UTF-16) and CRLF line ends.
        var csv = Bytes("name,city\r\nZoë,Kraków\r\n\U0001F600,\"a, b\"\r\n");
        foreach (var gzip in new[] { false, true })
        {
            var table = DatasetParser.Parse(new MemoryStream(gzip ? Gzip(csv) : csv), DatasetFormat.Csv, gzip);
            Assert.Equal(["name", "city"], table.Columns.Select(c => c.Name));
            Assert.Equal(2, table.Rows.Count);
            Assert.Equal("Kraków", table.Rows[0][1]);
            Assert.Equal("\U0001F600", table.Rows[1][0]);
            Assert.Equal("a, b", table.Rows[1][1]);
        }

        var tsv = DatasetParser.Parse(new MemoryStream(Bytes("x\ty\n1\té\n")), DatasetFormat.Tsv, false);
        Assert.Equal("é", tsv.Rows.Single()[1]);
        var jsonl = DatasetParser.Parse(new MemoryStream(Bytes("{\"x\": 1, \"y\": \"ü\"}\n")), DatasetFormat.JsonLines, false);
        Assert.Equal("ü", jsonl.Rows.Single()[1]);
    }

    [Fact]
    public void Utf16_that_is_not_text_or_has_no_byte_order_mark_is_refused_saying_so()
    {
        // A lone surrogate used to become U+FFFD without a word, where bad UTF-8 was refused.
        var lone = Encoding.Unicode.GetPreamble().Concat(Encoding.Unicode.GetBytes("a,b\n1,2\n")).Concat(new byte[] { 0x00, 0xD8, (byte)',', 0, (byte)'3', 0, (byte)'\n', 0 })
            .ToArray();
        var error = Assert.Throws<DatasetFormatException>(() => DatasetParser.Parse(new MemoryStream(lone), DatasetFormat.Csv, false)).Message;
        Assert.Contains("the file is not valid UTF-16 (little endian) text", error, StringComparison.Ordinal);

        var odd = Encoding.BigEndianUnicode.GetPreamble().Concat(Encoding.BigEndianUnicode.GetBytes("{\"a\": 1}\n")).Append((byte)'{').ToArray();
        Assert.Contains("not valid UTF-16 (big endian) text",
            Assert.Throws<DatasetFormatException>(() => DatasetParser.Parse(new MemoryStream(odd), DatasetFormat.JsonLines, false)).Message, StringComparison.Ordinal);

        // Without a byte order mark it was read as UTF-8 full of NULs: column names with NULs, or a count of fields.
        foreach (var encoding in new[] { Encoding.Unicode, Encoding.BigEndianUnicode })
        {
            foreach (var (text, format) in new[] { ("a,b\n1,2\n", DatasetFormat.Csv), ("label\ncat\n", DatasetFormat.Csv), ("{\"a\": 1}\n", DatasetFormat.JsonLines) })
            {
                var message = Assert.Throws<DatasetFormatException>(() => DatasetParser.Parse(new MemoryStream(encoding.GetBytes(text)), format, false)).Message;
                Assert.Contains("line 1: the file starts with NUL bytes; it looks like UTF-16 without a byte order mark", message, StringComparison.Ordinal);
            }
        }

        Assert.Contains("the file is not valid UTF-8 text", Assert.Throws<DatasetFormatException>(
            () => DatasetParser.Parse(new MemoryStream([(byte)'a', (byte)'\n', 0xFF, (byte)'\n']), DatasetFormat.Csv, false)).Message, StringComparison.Ordinal);
    }

    private static byte[] Gzip(byte[] bytes)
    {
        using var output = new MemoryStream();
        using (var gzip = new GZipStream(output, CompressionLevel.Fastest, leaveOpen: true))
        {
            gzip.Write(bytes);
        }

        return output.ToArray();
    }

    [Fact]
    public void Bad_files_name_the_line_or_record()
    {
        Assert.Contains("line 3", Assert.Throws<DatasetFormatException>(() => Parse("a,b\n1,2\n3\n", DatasetFormat.Csv)).Message);
        Assert.Contains("line 2", Assert.Throws<DatasetFormatException>(() => Parse("a\tb\n1\t2\t3\n", DatasetFormat.Tsv)).Message);
        Assert.Contains("appears twice", Assert.Throws<DatasetFormatException>(() => Parse("a,a\n1,2\n", DatasetFormat.Csv)).Message);
        Assert.Contains("line 2", Assert.Throws<DatasetFormatException>(() => Parse("{\"a\": 1}\n{\"a\": \n", DatasetFormat.JsonLines)).Message);
        Assert.Contains("line 1", Assert.Throws<DatasetFormatException>(() => Parse("[1, 2]\n", DatasetFormat.JsonLines)).Message);
        Assert.Contains("nested", Assert.Throws<DatasetFormatException>(() => Parse("{\"a\": {\"b\": 1}}\n", DatasetFormat.JsonLines)).Message);
        Assert.Contains("line 2", Assert.Throws<DatasetFormatException>(() => Parse("a\n\"open\n", DatasetFormat.Csv)).Message);
    }

    [Fact]
    public void Json_lines_refuse_a_number_out_of_range_and_a_key_without_a_name_rather_than_lose_them()
    {
        // 1e999 used to become a missing value without a word, so a column silently lost data.
        var huge = Assert.Throws<DatasetFormatException>(() => Parse("{\"a\": 1}\n{\"a\": 1e999}\n", DatasetFormat.JsonLines)).Message;
        Assert.Contains("line 2", huge, StringComparison.Ordinal);
        Assert.Contains("1e999", huge, StringComparison.Ordinal);
        Assert.Contains("line 1: a key has no name", Assert.Throws<DatasetFormatException>(() => Parse("{\"\": 1}\n", DatasetFormat.JsonLines)).Message, StringComparison.Ordinal);
        Assert.Equal(1e300, Parse("{\"a\": 1e300}\n", DatasetFormat.JsonLines).Rows[0][0]);
    }

    [Fact]
    public void Json_lines_refuse_a_key_given_twice_rather_than_keep_one_of_its_values()
    {
        var twice = Assert.Throws<DatasetFormatException>(() => Parse("{\"a\": 1}\n{\"a\": 1, \"a\": 2}\n", DatasetFormat.JsonLines)).Message;
        Assert.Contains("line 2", twice, StringComparison.Ordinal);
        Assert.Contains("'a'", twice, StringComparison.Ordinal);
    }

    [Fact]
    public void A_csv_header_of_blank_names_says_so_rather_than_that_the_file_is_empty()
    {
        Assert.Contains("line 1: column 1 has no name", Assert.Throws<DatasetFormatException>(() => Parse(",,\n1,2,3\n", DatasetFormat.Csv)).Message, StringComparison.Ordinal);
        Assert.Contains("the file is empty", Assert.Throws<DatasetFormatException>(() => Parse("\n", DatasetFormat.Csv)).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Json_lines_take_the_union_of_keys_and_gzip_is_read()
    {
        using var compressed = new MemoryStream();
        using (var gz = new GZipStream(compressed, CompressionLevel.Fastest, leaveOpen: true))
        {
            gz.Write(Encoding.UTF8.GetBytes("{\"x\": 1, \"label\": \"a\"}\n\n{\"x\": null, \"label\": \"b\", \"extra\": true}\n"));
        }

        compressed.Position = 0;
        var table = DatasetParser.Parse(compressed, DatasetFormat.JsonLines, gzip: true);
        Assert.Equal(["x", "label", "extra"], table.Columns.Select(c => c.Name));
        Assert.Equal(DatasetColumnType.Boolean, table.Columns[2].Type);
        Assert.Null(table.Rows[0][2]);
        Assert.Null(table.Rows[1][0]);
        Assert.Equal(true, table.Rows[1][2]);
    }

    [Fact]
    public void Idx_images_and_labels_in_one_zip_become_rows_with_statistics()
    {
        var zip = Maas.Testing.IdxFiles.Zip(3, 2, 2, gzipImages: true);
        var table = DatasetParser.Parse(new MemoryStream(zip), DatasetFormat.Idx, gzip: false);
        Assert.Equal(DatasetColumnType.Image, table.Columns[0].Type);
        Assert.Equal([2, 2], table.Columns[0].Shape!);
        Assert.Equal(3, table.Rows.Count);
        Assert.Equal(new byte[] { 4, 5, 6, 7 }, (byte[])table.Rows[1][0]!);
        Assert.Equal(2.0, table.Rows[2][1]);

        var stats = DatasetStatisticsCalculator.Compute(table);
        Assert.Equal(0, stats[0].Min);
        Assert.Equal(11, stats[0].Max);
        Assert.Equal(5.5, stats[0].Mean);
        Assert.Equal(new Dictionary<string, long> { ["0"] = 1, ["1"] = 1, ["2"] = 1 }, stats[1].ClassBalance);
    }

    [Fact]
    public void Idx_with_fewer_labels_than_images_is_refused_naming_the_entry()
    {
        var zip = Maas.Testing.IdxFiles.Zip(3, 2, 2, gzipImages: false, labels: 2);
        var error = Assert.Throws<DatasetFormatException>(() => DatasetParser.Parse(new MemoryStream(zip), DatasetFormat.Idx, gzip: false));
        Assert.Contains("labels.idx1", error.Message);
    }

    [Fact]
    public void Statistics_count_missing_distinct_range_and_class_balance()
    {
        var table = Parse("x,c\n1,a\n3,b\n,a\n", DatasetFormat.Csv);
        var stats = DatasetStatisticsCalculator.Compute(table);
        Assert.Equal(2, stats[0].Count);
        Assert.Equal(1, stats[0].Missing);
        Assert.Equal(2, stats[0].Distinct);
        Assert.Equal(1, stats[0].Min);
        Assert.Equal(3, stats[0].Max);
        Assert.Equal(2, stats[0].Mean);
        Assert.Equal(new Dictionary<string, long> { ["a"] = 2, ["b"] = 1 }, stats[1].ClassBalance);
    }

    [Fact]
    public void A_column_with_a_value_over_the_class_name_limit_has_no_class_balance()
    {
        var longest = new string('x', DatasetStatisticsCalculator.MaxClassNameChars);
        var table = Parse($"note,tag\n{longest}y,a\nshort,b\n{longest},a\n", DatasetFormat.Csv);
        var stats = DatasetStatisticsCalculator.Compute(table);
        Assert.Equal(3, stats[0].Distinct);
        Assert.Null(stats[0].ClassBalance); // one value is a character over: no copy of the texts in the statistics
        Assert.Equal(new Dictionary<string, long> { ["a"] = 2, ["b"] = 1 }, stats[1].ClassBalance);

        var atTheLimit = DatasetStatisticsCalculator.Compute(Parse($"note\n{longest}\nshort\n", DatasetFormat.Csv));
        Assert.Equal(2, atTheLimit[0].ClassBalance!.Count);
    }
}
