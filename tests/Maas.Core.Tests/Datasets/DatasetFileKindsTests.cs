using System.IO.Compression;
using System.Text;
using Maas.Core.Datasets;
using Maas.Testing;
using SkiaSharp;

namespace Maas.Core.Tests.Datasets;

/// <summary>Parquet files, image-folder archives, schema overrides and the expansion limits of compressed files.</summary>
public sealed class DatasetFileKindsTests
{
    [Fact]
    public async Task Parquet_columns_keep_their_types_and_nulls_across_row_groups()
    {
        var file = await DatasetFiles.ParquetAsync([(1, "a", true, 1.5), (2, null, false, null)], [(3, "c", null, 4.25)]);
        var table = DatasetParser.Parse(new MemoryStream(file), DatasetFormat.Parquet, gzip: false);
        Assert.Equal(["id:Number", "name:String", "flag:Boolean", "score:Number"], table.Columns.Select(c => $"{c.Name}:{c.Type}"));
        Assert.Equal(3, table.Rows.Count);
        Assert.Equal([1.0, "a", true, 1.5], table.Rows[0]);
        Assert.Equal([2.0, null, false, null], table.Rows[1]);
        Assert.Equal([3.0, "c", null, 4.25], table.Rows[2]);
    }

    [Fact]
    public void A_file_that_is_not_parquet_is_a_format_error()
    {
        var error = Assert.Throws<DatasetFormatException>(() => DatasetParser.Parse(new MemoryStream(Encoding.UTF8.GetBytes("a,b\n1,2\n")), DatasetFormat.Parquet, gzip: false));
        Assert.Contains("Parquet", error.Message);
    }

    [Fact]
    public void Pictures_in_class_folders_become_images_with_labels()
    {
        var zip = Zip(
            ("shapes/cat/1.png", Png(4, 3, SKColors.Gray)),
            ("shapes/cat/2.png", Png(4, 3, SKColors.White)),
            ("shapes/dog/1.png", Png(4, 3, SKColors.Black)),
            ("__MACOSX/shapes/dog/._1.png", [1, 2, 3]),
            ("shapes/.DS_Store", [0]));
        var table = DatasetParser.Parse(new MemoryStream(zip), DatasetFormat.Idx, gzip: false);
        Assert.Equal(DatasetFormat.ImageFolder, table.DetectedFormat);
        Assert.Equal([3, 4], table.Columns[0].Shape!); // grey pictures: one channel
        Assert.Equal(["cat", "cat", "dog"], table.Rows.Select(r => (string)r[1]!));
        Assert.All((byte[])table.Rows[1][0]!, b => Assert.Equal(255, b));
        Assert.All((byte[])table.Rows[2][0]!, b => Assert.Equal(0, b));
    }

    [Fact]
    public void Colour_pictures_of_different_sizes_need_a_size_and_are_resized_to_it()
    {
        var zip = Zip(("red/a.png", Png(8, 8, SKColors.Red)), ("blue/b.png", Png(6, 4, SKColors.Blue)));
        var error = Assert.Throws<DatasetFormatException>(() => DatasetParser.Parse(new MemoryStream(zip), DatasetFormat.Idx, gzip: false));
        Assert.Contains("blue/b.png", error.Message);
        Assert.Contains("image_size", error.Message);

        var table = DatasetParser.Parse(new MemoryStream(zip), DatasetFormat.Idx, gzip: false, new DatasetReadOptions { ImageSize = DatasetImageSize.Parse("5x3") });
        Assert.Equal([3, 5, 3], table.Columns[0].Shape!);
        var red = (byte[])table.Rows.Single(r => (string)r[1]! == "red")[0]!;
        Assert.Equal(5 * 3 * 3, red.Length);
        Assert.Equal((255, 0, 0), (red[0], red[1], red[2]));
    }

    [Fact]
    public void A_picture_outside_a_class_folder_or_not_a_picture_is_named()
    {
        var loose = Zip(("cat/1.png", Png(2, 2, SKColors.Gray)), ("cat/notes.txt", "hello"u8.ToArray()));
        Assert.Contains("cat/notes.txt", Assert.Throws<DatasetFormatException>(() => DatasetParser.Parse(new MemoryStream(loose), DatasetFormat.Idx, gzip: false)).Message);
        var broken = Zip(("cat/1.png", Png(2, 2, SKColors.Gray)), ("dog/2.png", [0x89, 0x50, 0x4e, 0x47, 1, 2, 3]));
        Assert.Contains("dog/2.png", Assert.Throws<DatasetFormatException>(() => DatasetParser.Parse(new MemoryStream(broken), DatasetFormat.Idx, gzip: false)).Message);
    }

    [Fact]
    public void A_zip_bomb_stops_at_the_expansion_limit()
    {
        // 64 MiB of zeros compresses to about 64 KiB; the limit is 1 MiB.
        using var buffer = new MemoryStream();
        using (var archive = new ZipArchive(buffer, ZipArchiveMode.Create, leaveOpen: true))
        {
            using var entry = archive.CreateEntry("images-idx3-ubyte", CompressionLevel.SmallestSize).Open();
            var zeros = new byte[1 << 20];
            for (var i = 0; i < 64; i++)
            {
                entry.Write(zeros);
            }
        }

        var options = new DatasetReadOptions { MaxDecompressedBytes = 1 << 20 };
        var error = Assert.Throws<DatasetTooLargeException>(() => DatasetParser.Parse(new MemoryStream(buffer.ToArray()), DatasetFormat.Idx, gzip: false, options));
        Assert.Equal(1 << 20, error.Limit);
        Assert.Contains("MaxDecompressedBytes", error.Message);
    }

    [Fact]
    public void A_gzip_bomb_of_csv_stops_at_the_expansion_limit()
    {
        using var compressed = new MemoryStream();
        using (var gz = new GZipStream(compressed, CompressionLevel.SmallestSize, leaveOpen: true))
        {
            gz.Write("a\n"u8);
            var ones = Encoding.ASCII.GetBytes(string.Concat(Enumerable.Repeat("1\n", 1 << 19)));
            for (var i = 0; i < 8; i++)
            {
                gz.Write(ones);
            }
        }

        compressed.Position = 0;
        Assert.Throws<DatasetTooLargeException>(() => DatasetParser.Parse(compressed, DatasetFormat.Csv, gzip: true, new DatasetReadOptions { MaxDecompressedBytes = 1 << 20 }));
    }

    [Fact]
    public void An_archive_with_too_many_entries_is_refused()
    {
        var zip = Zip([.. Enumerable.Range(0, 11).Select(i => ($"c/{i}.png", new byte[] { 1 }))]);
        var error = Assert.Throws<DatasetTooLargeException>(
            () => DatasetParser.Parse(new MemoryStream(zip), DatasetFormat.Idx, gzip: false, new DatasetReadOptions { MaxArchiveEntries = 10 }));
        Assert.Contains("10 entries", error.Message);
    }

    [Fact]
    public void A_schema_override_converts_values_and_names_the_row_that_does_not_convert()
    {
        var table = DatasetParser.Parse(new MemoryStream("zip,flag,n\n02134,1,7\n90210,0,8\n"u8.ToArray()), DatasetFormat.Csv, gzip: false);
        Assert.Equal(DatasetColumnType.Number, table.Columns[0].Type);
        var chosen = DatasetSchemaOverride.Apply(table, DatasetSchemaOverride.Parse("zip:string, flag:boolean"));
        Assert.Equal(["zip:String", "flag:Boolean", "n:Number"], chosen.Columns.Select(c => $"{c.Name}:{c.Type}"));
        Assert.Equal(["2134", true, 7.0], chosen.Rows[0]); // the number was read before the override: leading zeros are the file's to keep as text
        Assert.Equal(false, chosen.Rows[1][1]);
        Assert.Equal(DatasetSchemaOverride.Parse("zip:string,flag:boolean"), DatasetSchemaOverride.Differences(chosen.Columns, table));

        var text = DatasetParser.Parse(new MemoryStream("v\n1\nabc\n"u8.ToArray()), DatasetFormat.Csv, gzip: false);
        var error = Assert.Throws<DatasetFormatException>(() => DatasetSchemaOverride.Apply(text, DatasetSchemaOverride.Parse("v:number")));
        Assert.Contains("row 2, column 'v'", error.Message);
        Assert.Contains("does not have", Assert.Throws<DatasetFormatException>(() => DatasetSchemaOverride.Apply(text, DatasetSchemaOverride.Parse("w:number"))).Message);
        Assert.Throws<FormatException>(() => DatasetSchemaOverride.Parse("v:float"));
        Assert.Throws<FormatException>(() => DatasetSchemaOverride.Parse("v"));
        Assert.Throws<FormatException>(() => DatasetImageSize.Parse("0x4"));
        Assert.Equal(new DatasetImageSize(32, 32), DatasetImageSize.Parse("32"));
    }

    private static byte[] Png(int width, int height, SKColor color) => DatasetFiles.Png(width, height, color);

    private static byte[] Zip(params (string Name, byte[] Data)[] entries) => DatasetFiles.Zip(entries);
}
