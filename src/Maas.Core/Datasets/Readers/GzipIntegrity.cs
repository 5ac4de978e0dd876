using System.Buffers.Binary;
using System.IO.Compression;

namespace Maas.Core.Datasets.Readers;

/// <summary>
/// Whether gzip data is whole. .NET's <see cref="GZipStream"/> has zlib check each member's CRC-32 and size against the
/// trailer that ends it, but where the data stops before a trailer (a cut download, a partial copy) it ends quietly, as
/// if the file ended there: half a table would be stored as the whole of it. So the last member's trailer (the file's
/// last 8 bytes: the CRC-32 of what that member expands to, then its size modulo 2^32) is checked against the end of
/// what the file expanded to. Concatenated members (<c>cat a.gz b.gz</c>, bgzip) pass: the last member's data is the
/// expanded data's tail.
/// </summary>
internal static class GzipIntegrity
{
    private const int TrailerBytes = 8;

    // The smallest gzip member: a 10-byte header, an empty deflate block (2 bytes) and the trailer.
    private const int SmallestMember = 20;

    private static readonly uint[] Table = CreateTable();

    /// <summary>Checks gzip data held in memory against what it expanded to; <paramref name="what"/> names it in the error.</summary>
    /// <exception cref="DatasetFormatException">The data ends before its trailer, or its last bytes are not a trailer of this data.</exception>
    public static void Check(ReadOnlySpan<byte> compressed, ReadOnlySpan<byte> expanded, string what)
    {
        if (compressed.Length < SmallestMember)
        {
            throw Cut(what);
        }

        var (crc, size) = Trailer(compressed[^TrailerBytes..]);
        foreach (var start in Starts(size, expanded.Length))
        {
            if (Crc32(0, expanded[(int)start..]) == crc)
            {
                return;
            }
        }

        throw Cut(what);
    }

    /// <summary>Checks a seekable gzip file against what it expanded to, held in memory; leaves the stream at its end.</summary>
    /// <exception cref="DatasetFormatException">The data ends before its trailer, or its last bytes are not a trailer of this data.</exception>
    public static void Check(Stream compressed, long origin, ReadOnlySpan<byte> expanded, string what)
    {
        var (crc, size) = ReadTrailer(compressed, origin, what);
        foreach (var start in Starts(size, expanded.Length))
        {
            if (Crc32(0, expanded[(int)start..]) == crc)
            {
                return;
            }
        }

        throw Cut(what);
    }

    /// <summary>
    /// Checks a seekable gzip file that expanded to <paramref name="expandedLength"/> bytes whose CRC-32 is
    /// <paramref name="expandedCrc"/> (kept while it was read); leaves the stream at its end. The last member's data
    /// starts where its trailer's size says: for one member (the usual file) that is the start, whose CRC-32 is the one
    /// kept, and for a last member that is empty (bgzip's end block) the end; only for members joined otherwise is the
    /// file expanded once more, to the CRC-32 of the last member's part.
    /// </summary>
    /// <exception cref="DatasetFormatException">The data ends before its trailer, or its last bytes are not a trailer of this data.</exception>
    public static void Check(Stream compressed, long origin, long expandedLength, uint expandedCrc, string what)
    {
        var (crc, size) = ReadTrailer(compressed, origin, what);
        foreach (var start in Starts(size, expandedLength))
        {
            if (start == 0 || start == expandedLength)
            {
                if ((start == 0 ? expandedCrc : 0) == crc)
                {
                    return;
                }

                continue;
            }

            compressed.Position = origin;
            using var gzip = new GZipStream(compressed, CompressionMode.Decompress, leaveOpen: true);
            if (TailCrc(gzip, start) == crc)
            {
                return;
            }
        }

        throw Cut(what);
    }

    /// <summary>The CRC-32 (IEEE 802.3, as gzip's) of <paramref name="data"/> continuing <paramref name="crc"/> (0 to start).</summary>
    public static uint Crc32(uint crc, ReadOnlySpan<byte> data)
    {
        crc = ~crc;
        foreach (var b in data)
        {
            crc = Table[(crc ^ b) & 0xFF] ^ (crc >> 8);
        }

        return ~crc;
    }

    private static (uint Crc, uint Size) ReadTrailer(Stream compressed, long origin, string what)
    {
        if (compressed.Length - origin < SmallestMember)
        {
            throw Cut(what);
        }

        Span<byte> trailer = stackalloc byte[TrailerBytes];
        compressed.Position = compressed.Length - TrailerBytes;
        compressed.ReadExactly(trailer);
        return Trailer(trailer);
    }

    private static (uint Crc, uint Size) Trailer(ReadOnlySpan<byte> trailer) =>
        (BinaryPrimitives.ReadUInt32LittleEndian(trailer), BinaryPrimitives.ReadUInt32LittleEndian(trailer[4..]));

    // Where the last member's data may start in the expanded data: its size is stored modulo 2^32, so either right
    // after the members before it (size bytes from the end) or, for one member of 4 GiB or more, at the start.
    private static IEnumerable<long> Starts(uint size, long expandedLength)
    {
        var tail = expandedLength - size;
        if (tail >= 0)
        {
            yield return tail;
        }

        if (tail > 0 && tail % (1L << 32) == 0)
        {
            yield return 0;
        }
    }

    // The CRC-32 of what a stream holds from `start` to its end.
    private static uint TailCrc(Stream expanded, long start)
    {
        var buffer = new byte[1 << 16];
        var position = 0L;
        uint crc = 0;
        int read;
        while ((read = expanded.Read(buffer)) > 0)
        {
            var skip = (int)Math.Clamp(start - position, 0, read);
            crc = Crc32(crc, buffer.AsSpan(skip, read - skip));
            position += read;
        }

        return crc;
    }

    private static DatasetFormatException Cut(string what) =>
        new($"{what} is cut short: its gzip data stops before the trailer that ends it (a partial download or copy?), so rows would be missing; upload the whole file");

    private static uint[] CreateTable()
    {
        var table = new uint[256];
        for (var n = 0u; n < 256; n++)
        {
            var c = n;
            for (var k = 0; k < 8; k++)
            {
                c = (c & 1) != 0 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            }

            table[n] = c;
        }

        return table;
    }
}
