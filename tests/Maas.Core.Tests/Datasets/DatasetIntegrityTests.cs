using System.Buffers.Binary;
using System.Formats.Tar;
using System.IO.Compression;
using System.Text;
using Maas.Core.Datasets;
using Maas.Testing;

namespace Maas.Core.Tests.Datasets;

/// <summary>Files that would otherwise lose rows without a word: gzip data cut short, lines ended by a lone CR.</summary>
public sealed class DatasetIntegrityTests
{
    private static byte[] Gzip(byte[] bytes)
    {
        using var output = new MemoryStream();
        using (var gzip = new GZipStream(output, CompressionLevel.Optimal, leaveOpen: true))
        {
            gzip.Write(bytes);
        }

        return output.ToArray();
    }

    private static byte[] Rows(int count) =>
        Encoding.UTF8.GetBytes("x,y\n" + string.Concat(Enumerable.Range(0, count).Select(i => $"{i * 0.731:R},{(i * 7919) % 1000}\n")));

    [Fact]
    public void A_gzipped_table_cut_short_is_refused_instead_of_read_as_fewer_rows()
    {
        var whole = Gzip(Rows(5000));
        Assert.Equal(5000, DatasetParser.Parse(new MemoryStream(whole), DatasetFormat.Csv, gzip: true).Rows.Count);

        // .NET's GZipStream ends quietly where the data stops: half the file used to be stored as about half the rows.
        foreach (var length in new[] { whole.Length / 2, whole.Length - 8, whole.Length - 1 })
        {
            var cut = whole.AsSpan(0, length).ToArray();
            var error = Assert.Throws<DatasetFormatException>(() => DatasetParser.Parse(new MemoryStream(cut), DatasetFormat.Csv, gzip: true));
            Assert.Contains("cut short", error.Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void A_gzipped_table_or_archive_is_expanded_once_to_be_checked_whole()
    {
        // The check used to expand the whole file a second time for the CRC-32 of its last member; it is now kept while
        // the rows are read (a table) or taken from the expanded bytes in memory (an archive).
        var table = Gzip(Rows(20_000));
        var tableRead = new CountingStream(table);
        Assert.Equal(20_000, DatasetParser.Parse(tableRead, DatasetFormat.Csv, gzip: true).Rows.Count);
        Assert.True(tableRead.BytesRead < table.Length + 4096, $"{tableRead.BytesRead} bytes read of a {table.Length}-byte file");

        using var tar = new MemoryStream();
        using (var writer = new TarWriter(tar, TarEntryFormat.Pax, leaveOpen: true))
        {
            writer.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, "rows.csv") { DataStream = new MemoryStream(Rows(20_000)) });
        }

        var archive = Gzip(tar.ToArray());
        var archiveRead = new CountingStream(archive);
        Assert.Throws<DatasetFormatException>(() => DatasetParser.Parse(archiveRead, DatasetFormat.ImageFolder, gzip: true)); // no pictures in it
        Assert.True(archiveRead.BytesRead < archive.Length + 4096, $"{archiveRead.BytesRead} bytes read of a {archive.Length}-byte archive");

        // Members joined together are still checked whole (their last member's part is found by expanding once more).
        var joined = Gzip(Rows(100)).Concat(Gzip(Encoding.UTF8.GetBytes("1,2\n"))).ToArray();
        Assert.Equal(101, DatasetParser.Parse(new MemoryStream(joined), DatasetFormat.Csv, gzip: true).Rows.Count);
        var cutJoined = joined.AsSpan(0, joined.Length - 2).ToArray();
        Assert.Contains("cut short", Assert.Throws<DatasetFormatException>(() => DatasetParser.Parse(new MemoryStream(cutJoined), DatasetFormat.Csv, gzip: true)).Message,
            StringComparison.Ordinal);
    }

    // A file in memory that counts the bytes read from it.
    private sealed class CountingStream(byte[] bytes) : MemoryStream(bytes, writable: false)
    {
        public long BytesRead { get; private set; }

        public override int Read(byte[] buffer, int offset, int count) => Count(base.Read(buffer, offset, count));

        public override int Read(Span<byte> buffer) => Count(base.Read(buffer));

        private int Count(int read)
        {
            BytesRead += read;
            return read;
        }
    }

    [Fact]
    public void Gzip_members_joined_together_are_read_whole()
    {
        // cat a.gz b.gz, as bgzip writes too: the last member's trailer covers only its own rows.
        var joined = Gzip(Encoding.UTF8.GetBytes("a,b\n1,2\n")).Concat(Gzip(Encoding.UTF8.GetBytes("3,4\n5,6\n"))).Concat(Gzip([])).ToArray();
        var table = DatasetParser.Parse(new MemoryStream(joined), DatasetFormat.Csv, gzip: true);
        Assert.Equal([1.0, 3.0, 5.0], table.Rows.Select(r => r[0]));
    }

    [Fact]
    public void A_gzipped_archive_or_idx_entry_cut_short_is_refused()
    {
        var images = new byte[16 + (3 * 4)];
        BinaryPrimitives.WriteInt32BigEndian(images, 0x803);
        BinaryPrimitives.WriteInt32BigEndian(images.AsSpan(4), 3);
        BinaryPrimitives.WriteInt32BigEndian(images.AsSpan(8), 2);
        BinaryPrimitives.WriteInt32BigEndian(images.AsSpan(12), 2);
        var labels = new byte[8 + 3];
        BinaryPrimitives.WriteInt32BigEndian(labels, 0x801);
        BinaryPrimitives.WriteInt32BigEndian(labels.AsSpan(4), 3);

        using var tar = new MemoryStream();
        using (var writer = new TarWriter(tar, TarEntryFormat.Pax, leaveOpen: true))
        {
            foreach (var (name, data) in new[] { ("images-idx3-ubyte", images), ("labels-idx1-ubyte", labels) })
            {
                writer.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, name) { DataStream = new MemoryStream(data) });
            }
        }

        var tgz = Gzip(tar.ToArray());
        Assert.Equal(3, DatasetParser.Parse(new MemoryStream(tgz), DatasetFormat.Idx, gzip: true).Rows.Count);
        var cut = tgz.AsSpan(0, tgz.Length - 4).ToArray();
        Assert.Contains("the archive is cut short", Assert.Throws<DatasetFormatException>(() => DatasetParser.Parse(new MemoryStream(cut), DatasetFormat.Idx, gzip: true)).Message,
            StringComparison.Ordinal);

        // The Fashion-MNIST way: each IDX file gzipped, zipped together.
        var gzippedImages = Gzip(images);
        var zip = DatasetFiles.Zip(("images-idx3-ubyte.gz", gzippedImages.AsSpan(0, gzippedImages.Length - 3).ToArray()), ("labels-idx1-ubyte.gz", Gzip(labels)));
        Assert.Contains("entry 'images-idx3-ubyte.gz' is cut short",
            Assert.Throws<DatasetFormatException>(() => DatasetParser.Parse(new MemoryStream(zip), DatasetFormat.Idx, gzip: false)).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Lines_ended_by_a_lone_cr_are_rows_as_lf_and_crlf_lines_are()
    {
        // Excel for Mac's "CSV (Macintosh)": every line used to be glued into one header of odd column names.
        foreach (var end in new[] { "\r", "\n", "\r\n" })
        {
            var table = DatasetParser.Parse(new MemoryStream(Encoding.UTF8.GetBytes($"a,b{end}1,\"x{end}y\"{end}3,z{end}")), DatasetFormat.Csv, gzip: false);
            Assert.Equal(["a", "b"], table.Columns.Select(c => c.Name));
            Assert.Equal(2, table.Rows.Count);
            Assert.Equal([3.0, "z"], table.Rows[1]);
            Assert.Equal($"x{end}y", table.Rows[0][1]); // a quoted line break is kept as it was
        }
    }
}
