using System.IO.Compression;
using System.Text;
using K4os.Compression.LZ4;

namespace Maas.Testing;

/// <summary>
/// Parquet files written byte by byte (Thrift's compact protocol): one INT32 column "a", one row group, one column chunk
/// of one page holding 1 and 2, with any of its sizes, counts and offsets made wrong (the chunk's count of values is
/// the row count unless given). With <c>v2Levels</c>, "a" is optional and its page a data page v2 of those definition
/// levels (RLE, uncompressed) and the data. With <c>text</c>, "a" is UTF-8 text (its data given as PLAIN byte arrays). With <c>secondColumn</c>, a second INT32 column "b" follows,
/// its chunk one page of one value per row (7, 8, 9 ...), whole and right.
/// </summary>
public static class CraftedParquet
{
    private const int TypeI32 = 5;
    private const int TypeI64 = 6;
    private const int TypeBinary = 8;
    private const int TypeList = 9;
    private const int TypeStruct = 12;

    public static byte[] File(
        int pageType = 0,
        int pageValues = 2,
        long rows = 2,
        int? compressed = null,
        int? uncompressed = null,
        long? totalCompressed = null,
        long? dataPageOffset = null,
        int codec = 0,
        byte[]? data = null,
        int? dictionaryEntries = null,
        int? headerBinary = null,
        long? chunkValues = null,
        bool secondColumn = false,
        byte[]? v2Levels = null,
        bool text = false)
    {
        // A data page v2 (with v2Levels) carries its definition levels uncompressed ahead of its data; "a" is then optional.
        data = [.. v2Levels ?? [], .. data ?? [1, 0, 0, 0, 2, 0, 0, 0]];
        var header = new Writer();
        header.I32(1, dictionaryEntries is null ? (v2Levels is null ? pageType : 3) : 2);
        header.I32(2, uncompressed ?? data.Length);
        header.I32(3, compressed ?? data.Length);
        if (dictionaryEntries is { } entries)
        {
            header.Struct(7, h => h.I32(1, entries).I32(2, 0));
        }
        else if (v2Levels is not null)
        {
            header.Struct(8, h => h.I32(1, pageValues).I32(2, 0).I32(3, pageValues).I32(4, 0).I32(5, v2Levels.Length).I32(6, 0));
        }
        else
        {
            header.Struct(5, h => h.I32(1, pageValues).I32(2, 0).I32(3, 3).I32(4, 3));
        }

        if (headerBinary is { } declared)
        {
            // An unknown field (Thrift readers skip it) of binary type declaring more bytes than follow.
            header.Field(9, TypeBinary).Varint((ulong)declared);
        }

        header.Stop();
        var page = header.ToArray();
        byte[] first = [.. page, .. data];
        byte[] second = secondColumn ? SecondColumn(rows) : [];
        var columns = secondColumn ? 2 : 1;
        var footer = new Writer();
        footer.I32(1, 1);
        footer.List(2, TypeStruct, columns + 1, f =>
        {
            f.Element(e => e.String(4, "schema").I32(5, columns));
            f.Element(e =>
            {
                // INT32, or BYTE_ARRAY annotated UTF8 (converted type 0) for text.
                e.I32(1, text ? 6 : 1).I32(3, v2Levels is null ? 0 : 1).String(4, "a");
                if (text)
                {
                    e.I32(6, 0);
                }
            });
            if (secondColumn)
            {
                f.Element(e => e.I32(1, 1).I32(3, 0).String(4, "b"));
            }
        });
        footer.I64(3, rows);
        footer.List(4, TypeStruct, 1, f => f.Element(group =>
        {
            group.List(1, TypeStruct, columns, c =>
            {
                c.Element(chunk => Chunk(chunk, "a", text ? 6 : 1, codec, chunkValues ?? rows, first.Length, totalCompressed ?? first.Length, 4, dataPageOffset ?? 4));
                if (secondColumn)
                {
                    c.Element(chunk => Chunk(chunk, "b", 1, 0, rows, second.Length, second.Length, 4 + first.Length, 4 + first.Length));
                }
            });
            group.I64(2, first.Length + second.Length);
            group.I64(3, rows);
        }));
        footer.Stop();
        var meta = footer.ToArray();
        return [.. "PAR1"u8, .. first, .. second, .. meta, .. BitConverter.GetBytes(meta.Length), .. "PAR1"u8];
    }

    /// <summary>The text values as a PLAIN page of byte arrays holds them: each its length (4 bytes) and its UTF-8 bytes.</summary>
    public static byte[] Texts(params string[] values) =>
        values.SelectMany(v => (byte[])[.. BitConverter.GetBytes(Encoding.UTF8.GetByteCount(v)), .. Encoding.UTF8.GetBytes(v)]).ToArray();

    /// <summary>The INT32 values little-endian, as a PLAIN page holds them.</summary>
    public static byte[] Ints(params int[] values) => values.SelectMany(BitConverter.GetBytes).ToArray();

    /// <summary>
    /// <paramref name="data"/> compressed with a Parquet codec (1 Snappy, 2 Gzip, 4 Brotli, 5 LZ4 and 7 LZ4_RAW as a raw LZ4
    /// block, 6 Zstd), by the libraries the format names, as a writer would.
    /// </summary>
    public static byte[] Compress(int codec, byte[] data)
    {
        switch (codec)
        {
            case 1:
                return Snappier.Snappy.CompressToArray(data);
            case 2 or 4:
                using (var output = new MemoryStream())
                {
                    using (Stream compressor = codec == 2 ? new GZipStream(output, CompressionLevel.Optimal, true) : new BrotliStream(output, CompressionLevel.Optimal, true))
                    {
                        compressor.Write(data);
                    }

                    return output.ToArray();
                }

            case 5 or 7:
                var block = new byte[LZ4Codec.MaximumOutputSize(data.Length)];
                return block[..LZ4Codec.Encode(data, block)];
            case 6:
                using (var zstd = new ZstdSharp.Compressor())
                {
                    return zstd.Wrap(data).ToArray();
                }

            default:
                throw new ArgumentOutOfRangeException(nameof(codec), codec, "no such codec here");
        }
    }

    // Column "b": one uncompressed page of 7, 8, 9 ... as many as rows.
    private static byte[] SecondColumn(long rows)
    {
        var data = Enumerable.Range(7, (int)rows).SelectMany(BitConverter.GetBytes).ToArray();
        var header = new Writer();
        header.I32(1, 0).I32(2, data.Length).I32(3, data.Length);
        header.Struct(5, h => h.I32(1, rows).I32(2, 0).I32(3, 3).I32(4, 3));
        header.Stop();
        return [.. header.ToArray(), .. data];
    }

    // A column chunk and its metadata: of a physical type, PLAIN, one page.
    private static void Chunk(Writer chunk, string name, int type, int codec, long values, long size, long totalCompressed, long fileOffset, long dataPageOffset)
    {
        chunk.I64(2, fileOffset);
        chunk.Struct(3, meta =>
        {
            meta.I32(1, type);
            meta.List(2, TypeI32, 1, l => l.Varint(0));
            meta.List(3, TypeBinary, 1, l => l.Bytes(Encoding.UTF8.GetBytes(name)));
            meta.I32(4, codec);
            meta.I64(5, values);
            meta.I64(6, size);
            meta.I64(7, totalCompressed);
            meta.I64(9, dataPageOffset);
        });
    }

    private sealed class Writer
    {
        private readonly List<byte> _bytes = [];
        private readonly Stack<int> _lastIds = new();
        private int _lastId;

        public byte[] ToArray() => [.. _bytes];

        public Writer Field(int id, int type)
        {
            var delta = id - _lastId;
            if (delta is > 0 and <= 15)
            {
                _bytes.Add((byte)((delta << 4) | type));
            }
            else
            {
                _bytes.Add((byte)type);
                Varint(ZigZag(id));
            }

            _lastId = id;
            return this;
        }

        public Writer I32(int id, long value)
        {
            Field(id, TypeI32);
            return Varint(ZigZag(value));
        }

        public Writer I64(int id, long value)
        {
            Field(id, TypeI64);
            return Varint(ZigZag(value));
        }

        public Writer String(int id, string text)
        {
            Field(id, TypeBinary);
            return Bytes(Encoding.UTF8.GetBytes(text));
        }

        public Writer Bytes(byte[] bytes)
        {
            Varint((ulong)bytes.Length);
            _bytes.AddRange(bytes);
            return this;
        }

        public Writer Struct(int id, Action<Writer> fields)
        {
            Field(id, TypeStruct);
            return Element(fields);
        }

        // A struct's fields and its stop byte, as a field's value or a list's element.
        public Writer Element(Action<Writer> fields)
        {
            _lastIds.Push(_lastId);
            _lastId = 0;
            fields(this);
            Stop();
            _lastId = _lastIds.Pop();
            return this;
        }

        public Writer List(int id, int elementType, int count, Action<Writer> elements)
        {
            Field(id, TypeList);
            _bytes.Add((byte)((count << 4) | elementType)); // fewer than 15 elements
            elements(this);
            return this;
        }

        public Writer Stop()
        {
            _bytes.Add(0);
            return this;
        }

        public Writer Varint(ulong value)
        {
            do
            {
                var b = (byte)(value & 0x7F);
                value >>= 7;
                _bytes.Add(value == 0 ? b : (byte)(b | 0x80));
            }
            while (value != 0);
            return this;
        }

        private static ulong ZigZag(long value) => (ulong)((value << 1) ^ (value >> 63));
    }
}
