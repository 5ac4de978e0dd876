namespace Maas.Core.Datasets.Readers;

/// <summary>
/// Thrift's compact protocol over a Parquet file's metadata already in memory (its footer, a page header): every read
/// stays within the bytes; running out throws <see cref="ParquetParquetCutShortException"/>, anything else malformed a
/// <see cref="DatasetFormatException"/> naming <c>what</c> was read.
/// </summary>
internal ref struct ParquetThriftReader(ReadOnlySpan<byte> data, string what)
{
    /// <summary>The deepest nesting of structs, lists and maps read.</summary>
    public const int MaxDepth = 64;

    // Thrift compact types.
    public const int BooleanTrue = 1;
    public const int BooleanFalse = 2;
    public const int ListType = 9;
    public const int StructType = 12;

    private readonly ReadOnlySpan<byte> _data = data;
    private readonly Stack<int> _lastIds = new();
    private int _lastId;

    public int Position { get; private set; }

    public void BeginStruct()
    {
        if (_lastIds.Count >= MaxDepth)
        {
            throw Bad($"{what} nests deeper than {MaxDepth} levels");
        }

        _lastIds.Push(_lastId);
        _lastId = 0;
    }

    public void EndStruct() => _lastId = _lastIds.Pop();

    // The next field's id and type; false at the struct's stop byte.
    public bool NextField(out int id, out int type)
    {
        var header = Byte();
        type = header & 0x0F;
        if (header == 0)
        {
            id = 0;
            return false;
        }

        id = header >> 4 == 0 ? (int)ZigZag(Varint(3)) : _lastId + (header >> 4);
        _lastId = id;
        return true;
    }

    public readonly bool IsInteger(int type) => type is 3 or 4 or 5 or 6;

    public long Integer(int type) => type == 3 ? (sbyte)Byte() : ZigZag(Varint(type == 6 ? 10 : 5));

    // An i32 as Parquet.Net reads it (at most five bytes, 32 bits).
    public int Int32(int type)
    {
        var value = Integer(type);
        return value is >= int.MinValue and <= int.MaxValue ? (int)value : throw Bad($"{what} holds {value} where a 32-bit number belongs");
    }

    public ReadOnlySpan<byte> Binary()
    {
        var length = Count(Varint(5));
        var start = Position;
        Take(length);
        return _data.Slice(start, length);
    }

    public (int ElementType, int Count) ListHeader()
    {
        var header = Byte();
        var count = header >> 4;
        return (header & 0x0F, Count(count == 15 ? Varint(5) : (ulong)count));
    }

    // A field's value: a boolean field carries its value in its type, and has no byte of its own.
    public void SkipField(int type, int depth)
    {
        if (type is not (BooleanTrue or BooleanFalse))
        {
            Skip(type, depth);
        }
    }

    // A value as a list, set or map holds it (a boolean there takes a byte).
    public void Skip(int type, int depth)
    {
        if (depth > MaxDepth)
        {
            throw Bad($"{what} nests deeper than {MaxDepth} levels");
        }

        switch (type)
        {
            case 1 or 2 or 3:
                Byte();
                break;
            case 4 or 5 or 6:
                Varint(10);
                break;
            case 7:
                Take(8);
                break;
            case 8:
                Take(Count(Varint(5)));
                break;
            case 9 or 10:
                var (elementType, count) = ListHeader();
                for (var i = 0; i < count; i++)
                {
                    Skip(elementType, depth + 1);
                }

                break;
            case 11:
                var entries = Count(Varint(5));
                if (entries > 0)
                {
                    var types = Byte();
                    for (var i = 0; i < entries; i++)
                    {
                        Skip(types >> 4, depth + 1);
                        Skip(types & 0x0F, depth + 1);
                    }
                }

                break;
            case 12:
                BeginStruct();
                while (NextField(out _, out var fieldType))
                {
                    SkipField(fieldType, depth + 1);
                }

                EndStruct();
                break;
            default:
                throw Bad($"{what} holds a value of unknown Thrift type {type} at byte {Position}");
        }
    }

    // A count of items or bytes: each takes at least a byte, so one over what is left is cut short (or made up).
    private int Count(ulong count) =>
        count <= (ulong)(_data.Length - Position) ? (int)count
        : throw new ParquetCutShortException($"declares {count} items or bytes at byte {Position} where {_data.Length - Position} are left");

    private void Take(int count)
    {
        if (count > _data.Length - Position)
        {
            throw new ParquetCutShortException($"the data ends at byte {Position}");
        }

        Position += count;
    }

    private byte Byte() => Position < _data.Length ? _data[Position++] : throw new ParquetCutShortException($"the data ends at byte {Position}");

    private ulong Varint(int maxBytes)
    {
        ulong value = 0;
        for (var i = 0; i < maxBytes; i++)
        {
            var b = Byte();
            value |= (ulong)(b & 0x7F) << (7 * i);
            if ((b & 0x80) == 0)
            {
                return maxBytes == 5 && value > uint.MaxValue ? throw Bad($"{what} holds a 32-bit varint over 32 bits at byte {Position}") : value;
            }
        }

        throw Bad($"{what} holds a varint longer than {maxBytes} bytes at byte {Position}");
    }

    private static long ZigZag(ulong n) => (long)(n >> 1) ^ -(long)(n & 1);

    /// <summary>The refusal of a file that is not Parquet this server reads, saying <paramref name="what"/> is wrong.</summary>
    public static DatasetFormatException Bad(string what) => new($"the file is not a Parquet file this server reads ({what})");
}
