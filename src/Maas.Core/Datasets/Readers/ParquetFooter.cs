using System.Buffers.Binary;

namespace Maas.Core.Datasets.Readers;

/// <summary>
/// Checks a Parquet file's footer (its Thrift compact-encoded metadata) before Parquet.Net reads it. Parquet.Net's Thrift
/// reader takes the end of the footer's bytes for 0xFF bytes and never stops on a varint that runs past it: a footer cut
/// short or made up (a 20-byte upload) held a request's thread at full CPU for ever. Every value is walked here within
/// the footer's bounds, so Parquet.Net only sees footers that end where their length says.
/// </summary>
internal static class ParquetFooter
{
    private const int MaxDepth = 64;

    /// <summary>Throws <see cref="DatasetFormatException"/> unless <paramref name="file"/> (seekable) ends in a whole footer; leaves it at its start.</summary>
    public static void Check(Stream file)
    {
        var length = file.Length;
        if (length < 12)
        {
            throw Bad($"the file is {length} bytes, too short for Parquet's header, footer length and magic");
        }

        Span<byte> tail = stackalloc byte[8];
        file.Seek(-8, SeekOrigin.End);
        file.ReadExactly(tail);
        if (!tail[4..].SequenceEqual("PAR1"u8))
        {
            throw Bad("the file does not end with the Parquet magic 'PAR1'");
        }

        var footerLength = BinaryPrimitives.ReadInt32LittleEndian(tail);
        if (footerLength <= 0 || footerLength > length - 12)
        {
            throw Bad($"its footer length is {footerLength} bytes but the file has room for {length - 12}");
        }

        var footer = new byte[footerLength];
        file.Seek(-8L - footerLength, SeekOrigin.End);
        file.ReadExactly(footer);
        file.Position = 0;
        var position = 0;
        SkipStruct(footer, ref position, 0);
        if (position != footer.Length)
        {
            throw Bad($"its footer metadata ends after {position} of its {footer.Length} bytes");
        }
    }

    private static void SkipStruct(ReadOnlySpan<byte> data, ref int position, int depth)
    {
        if (depth > MaxDepth)
        {
            throw Bad($"its footer metadata nests deeper than {MaxDepth} levels");
        }

        while (true)
        {
            var header = Byte(data, ref position);
            if (header == 0)
            {
                return; // stop
            }

            if (header >> 4 == 0)
            {
                Varint(data, ref position); // a field id given in full rather than as a delta
            }

            var type = header & 0x0F;
            if (type is 1 or 2)
            {
                continue; // a boolean field carries its value in its type
            }

            SkipValue(data, ref position, type, depth);
        }
    }

    private static void SkipValue(ReadOnlySpan<byte> data, ref int position, int type, int depth)
    {
        switch (type)
        {
            case 1 or 2 or 3:
                Byte(data, ref position); // a boolean inside a list or map, or a byte
                break;
            case 4 or 5 or 6:
                Varint(data, ref position);
                break;
            case 7:
                Take(data, ref position, 8);
                break;
            case 8:
                Take(data, ref position, Size(data, ref position, Varint(data, ref position)));
                break;
            case 9 or 10:
                var listHeader = Byte(data, ref position);
                var count = listHeader >> 4;
                var elements = Size(data, ref position, count == 15 ? Varint(data, ref position) : (ulong)count);
                for (var i = 0; i < elements; i++)
                {
                    SkipValue(data, ref position, listHeader & 0x0F, depth + 1);
                }

                break;
            case 11:
                var entries = Size(data, ref position, Varint(data, ref position));
                if (entries > 0)
                {
                    var types = Byte(data, ref position);
                    for (var i = 0; i < entries; i++)
                    {
                        SkipValue(data, ref position, types >> 4, depth + 1);
                        SkipValue(data, ref position, types & 0x0F, depth + 1);
                    }
                }

                break;
            case 12:
                SkipStruct(data, ref position, depth + 1);
                break;
            default:
                throw Bad($"its footer metadata holds a value of unknown Thrift type {type} at byte {position}");
        }
    }

    // A count of items or bytes: each takes at least a byte, so one over what is left cannot be right.
    private static int Size(ReadOnlySpan<byte> data, ref int position, ulong size) =>
        size <= (ulong)(data.Length - position)
            ? (int)size
            : throw Bad($"its footer metadata declares {size} items or bytes at byte {position} where {data.Length - position} bytes are left");

    private static void Take(ReadOnlySpan<byte> data, ref int position, int count)
    {
        if (count > data.Length - position)
        {
            throw Bad($"its footer metadata is cut short at byte {position}");
        }

        position += count;
    }

    private static byte Byte(ReadOnlySpan<byte> data, ref int position) =>
        position < data.Length ? data[position++] : throw Bad($"its footer metadata is cut short at byte {position}");

    private static ulong Varint(ReadOnlySpan<byte> data, ref int position)
    {
        ulong value = 0;
        for (var shift = 0; shift < 70; shift += 7)
        {
            var b = Byte(data, ref position);
            value |= (ulong)(b & 0x7F) << shift;
            if ((b & 0x80) == 0)
            {
                return value;
            }
        }

        throw Bad($"its footer metadata holds a varint longer than 10 bytes at byte {position}");
    }

    private static DatasetFormatException Bad(string what) => new($"the file is not a Parquet file this server reads ({what})");
}
