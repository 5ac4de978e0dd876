using System.Buffers.Binary;
using System.Text;
using Maas.Core.IO;

namespace Maas.Core.Formats.Gguf;

/// <summary>Reads and validates the header of a GGUF file without touching the tensor data.</summary>
/// <remarks>
/// Every count and length read from the file is checked against the bytes that remain before anything is
/// allocated, so a hostile header cannot make the reader allocate more than the file could hold.
/// </remarks>
public static class GgufReader
{
    /// <summary>"GGUF" read as a little-endian uint32.</summary>
    public const uint Magic = 0x46554747;

    /// <summary>The newest format version this reader (and the pinned llama.cpp) understands.</summary>
    public const uint LatestVersion = 3;

    /// <summary>ggml's default data alignment when general.alignment is absent.</summary>
    public const uint DefaultAlignment = 32;

    /// <summary>Longest tensor name ggml accepts (GGML_MAX_NAME - 1).</summary>
    public const int MaxTensorNameLength = 63;

    /// <summary>Most dimensions a ggml tensor has (GGML_MAX_DIMS).</summary>
    public const int MaxDimensions = 4;

    // Sanity caps on top of the remaining-bytes checks: no real model comes near them.
    private const long MaxStringBytes = 256L * 1024 * 1024;
    private const long MaxArrayElements = 256L * 1024 * 1024;
    private const long MaxKeyValues = 1_000_000;
    private const long MaxTensors = 1_000_000;

    /// <summary>Reads the header of the GGUF file at <paramref name="path"/>.</summary>
    /// <exception cref="InvalidModelFileException">The file is not a valid GGUF file; the message says why.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> fired (checked before each read of the file).</exception>
    public static GgufFile Read(string path, CancellationToken cancellationToken = default)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1, FileOptions.SequentialScan);
        return Read(stream, cancellationToken);
    }

    /// <summary>Reads a GGUF header from a seekable stream positioned at the start of the file.</summary>
    /// <exception cref="InvalidModelFileException">The content is not a valid GGUF file; the message says why.</exception>
    /// <exception cref="OperationCanceledException">
    /// <paramref name="cancellationToken"/> fired: a header of many megabytes (a large vocabulary) stops within one
    /// buffer of it.
    /// </exception>
    public static GgufFile Read(Stream stream, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(stream);
        if (!stream.CanSeek)
        {
            throw new ArgumentException("GGUF reading needs a seekable stream (its length bounds every header field)", nameof(stream));
        }

        cancellationToken.ThrowIfCancellationRequested();
        using var cancellable = cancellationToken.CanBeCanceled ? new CancellableReadStream(stream, cancellationToken) : null;
        var reader = new Cursor(cancellable ?? stream);
        return reader.ReadFile();
    }

    private sealed class Cursor(Stream stream)
    {
        private readonly BufferedStream input = new(stream, 1 << 16);
        private readonly long start = stream.Position;
        private readonly long length = stream.Length;
        private readonly byte[] scratch = new byte[8];
        private string where = "the file header";

        private long Position => input.Position - start;

        private long Remaining => length - start - Position;

        public GgufFile ReadFile()
        {
            if (length - start < 4)
            {
                throw Invalid($"the file is {length - start} bytes long, too short to be a GGUF file");
            }

            var magic = ReadUInt32();
            if (magic != Magic)
            {
                throw Invalid($"wrong magic 0x{magic:X8} (expected \"GGUF\"); this is not a GGUF file");
            }

            var version = ReadUInt32();
            if (version == 0 || version == 1 || version > LatestVersion)
            {
                var hint = version == 1
                    ? " (GGUF v1 is no longer supported; convert the model again)"
                    : (version & 0xFFFF) == 0 ? " (looks like a file of the other byte order)" : string.Empty;
                throw Invalid($"unsupported GGUF version {version}; versions 2 to {LatestVersion} are supported{hint}");
            }

            var tensorCount = ReadInt64();
            var kvCount = ReadInt64();
            CheckCount(tensorCount, MaxTensors, minBytesEach: 24, "tensor count");
            CheckCount(kvCount, MaxKeyValues, minBytesEach: 13, "metadata key/value count");

            var metadata = new Dictionary<string, GgufValue>((int)Math.Min(kvCount, 4096), StringComparer.Ordinal);
            var keys = new List<string>((int)Math.Min(kvCount, 4096));
            for (long i = 0; i < kvCount; i++)
            {
                where = $"metadata entry {i}";
                var key = ReadString();
                if (key.Length == 0)
                {
                    throw Invalid($"metadata entry {i} has an empty key");
                }

                where = $"metadata value '{key}'";
                var value = ReadValue();
                if (!metadata.TryAdd(key, value))
                {
                    throw Invalid($"metadata key '{key}' appears twice");
                }

                keys.Add(key);
            }

            var alignment = DefaultAlignment;
            if (metadata.TryGetValue("general.alignment", out var alignValue))
            {
                if (alignValue.Type != GgufValueType.UInt32)
                {
                    throw Invalid($"general.alignment must be a uint32, found {alignValue.Type}");
                }

                alignment = (uint)alignValue.Value;
                if (alignment == 0 || (alignment & (alignment - 1)) != 0)
                {
                    throw Invalid($"general.alignment {alignment} is not a power of two");
                }
            }

            var tensors = new List<GgufTensorInfo>((int)Math.Min(tensorCount, 4096));
            var names = new HashSet<string>(StringComparer.Ordinal);
            for (long i = 0; i < tensorCount; i++)
            {
                where = $"tensor info {i}";
                tensors.Add(ReadTensorInfo(i, names));
            }

            var headerEnd = Position;
            var dataOffset = tensorCount > 0 ? AlignUp(headerEnd, alignment) : headerEnd;
            var dataLength = length - start - dataOffset;
            foreach (var t in tensors)
            {
                CheckTensorPlacement(t, alignment, dataOffset, dataLength);
            }

            return new GgufFile(version, metadata, keys, tensors, alignment, start + dataOffset, length);
        }

        private GgufTensorInfo ReadTensorInfo(long index, HashSet<string> names)
        {
            var name = ReadString();
            if (name.Length == 0 || Encoding.UTF8.GetByteCount(name) > MaxTensorNameLength)
            {
                throw Invalid($"tensor {index} has an invalid name '{Truncate(name)}' (1 to {MaxTensorNameLength} bytes allowed)");
            }

            if (!names.Add(name))
            {
                throw Invalid($"tensor name '{name}' appears twice");
            }

            where = $"tensor info '{name}'";
            var nDims = ReadUInt32();
            if (nDims > MaxDimensions)
            {
                throw Invalid($"tensor '{name}' has {nDims} dimensions; ggml supports at most {MaxDimensions}");
            }

            var dims = new long[nDims];
            for (var d = 0; d < nDims; d++)
            {
                dims[d] = ReadInt64();
                if (dims[d] < 0)
                {
                    throw Invalid($"tensor '{name}' dimension {d} is negative ({dims[d]})");
                }
            }

            var rawType = ReadUInt32();
            var type = (GgmlType)rawType;
            if (!GgmlTypeTraits.IsKnown(type))
            {
                throw Invalid($"tensor '{name}' has ggml type {rawType}, which this llama.cpp build does not know");
            }

            if (GgmlTypeTraits.ByteSize(type, dims) is null)
            {
                throw Invalid($"tensor '{name}' of type {GgmlTypeTraits.Name(type)} has shape [{string.Join(", ", dims)}], " +
                    $"which is not a whole number of {GgmlTypeTraits.BlockSize(type)}-element blocks per row or overflows");
            }

            var offset = ReadUInt64();
            return new GgufTensorInfo(name, dims, type, offset);
        }

        private static void CheckTensorPlacement(GgufTensorInfo t, uint alignment, long dataOffset, long dataLength)
        {
            if (t.Offset % alignment != 0)
            {
                throw Invalid($"tensor '{t.Name}' data offset {t.Offset} is not aligned to {alignment} bytes");
            }

            var size = t.ByteSize;
            if (dataLength < 0 || t.Offset > (ulong)dataLength || size > (ulong)dataLength - t.Offset)
            {
                var end = (ulong)dataOffset + t.Offset + size;
                throw Invalid($"tensor '{t.Name}' ({GgmlTypeTraits.Name(t.Type)}, [{string.Join(", ", t.Dimensions)}], {size} bytes) " +
                    $"runs past the end of the file: its data ends at byte {end} but the file has {dataOffset + Math.Max(dataLength, 0)} bytes (truncated?)");
            }
        }

        private GgufValue ReadValue()
        {
            var type = (GgufValueType)ReadUInt32();
            if (type != GgufValueType.Array)
            {
                return ReadScalar(type);
            }

            var elementType = (GgufValueType)ReadUInt32();
            var n = ReadUInt64();
            var minBytes = elementType switch
            {
                GgufValueType.UInt8 or GgufValueType.Int8 or GgufValueType.Bool => 1,
                GgufValueType.UInt16 or GgufValueType.Int16 => 2,
                GgufValueType.UInt32 or GgufValueType.Int32 or GgufValueType.Float32 => 4,
                GgufValueType.UInt64 or GgufValueType.Int64 or GgufValueType.Float64 or GgufValueType.String => 8,
                GgufValueType.Array => throw Invalid($"{where} is an array of arrays, which GGUF readers do not support"),
                _ => throw Invalid($"{where} is an array of unknown type {(uint)elementType}"),
            };
            if (n > (ulong)MaxArrayElements || (long)n * minBytes > Remaining)
            {
                throw Invalid($"{where} claims {n} elements of {elementType}, more than the {Remaining} bytes left in the file can hold");
            }

            var count = (int)n;
            return elementType switch
            {
                GgufValueType.UInt8 => GgufValue.From(ReadBytes(count)),
                GgufValueType.Int8 => GgufValue.From(ReadArray(count, 1, static s => (sbyte)s[0])),
                GgufValueType.Bool => GgufValue.From(ReadArray(count, 1, static s => s[0] != 0)),
                GgufValueType.UInt16 => GgufValue.From(ReadArray(count, 2, BinaryPrimitives.ReadUInt16LittleEndian)),
                GgufValueType.Int16 => GgufValue.From(ReadArray(count, 2, BinaryPrimitives.ReadInt16LittleEndian)),
                GgufValueType.UInt32 => GgufValue.From(ReadArray(count, 4, BinaryPrimitives.ReadUInt32LittleEndian)),
                GgufValueType.Int32 => GgufValue.From(ReadArray(count, 4, BinaryPrimitives.ReadInt32LittleEndian)),
                GgufValueType.Float32 => GgufValue.From(ReadArray(count, 4, BinaryPrimitives.ReadSingleLittleEndian)),
                GgufValueType.UInt64 => GgufValue.From(ReadArray(count, 8, BinaryPrimitives.ReadUInt64LittleEndian)),
                GgufValueType.Int64 => GgufValue.From(ReadArray(count, 8, BinaryPrimitives.ReadInt64LittleEndian)),
                GgufValueType.Float64 => GgufValue.From(ReadArray(count, 8, BinaryPrimitives.ReadDoubleLittleEndian)),
                _ => GgufValue.From(ReadStrings(count)),
            };
        }

        private GgufValue ReadScalar(GgufValueType type) => type switch
        {
            GgufValueType.UInt8 => GgufValue.From(Fill(1)[0]),
            GgufValueType.Int8 => GgufValue.From((sbyte)Fill(1)[0]),
            GgufValueType.UInt16 => GgufValue.From(BinaryPrimitives.ReadUInt16LittleEndian(Fill(2))),
            GgufValueType.Int16 => GgufValue.From(BinaryPrimitives.ReadInt16LittleEndian(Fill(2))),
            GgufValueType.UInt32 => GgufValue.From(ReadUInt32()),
            GgufValueType.Int32 => GgufValue.From(BinaryPrimitives.ReadInt32LittleEndian(Fill(4))),
            GgufValueType.Float32 => GgufValue.From(BinaryPrimitives.ReadSingleLittleEndian(Fill(4))),
            GgufValueType.Bool => GgufValue.From(Fill(1)[0] != 0),
            GgufValueType.String => GgufValue.From(ReadString()),
            GgufValueType.UInt64 => GgufValue.From(ReadUInt64()),
            GgufValueType.Int64 => GgufValue.From(ReadInt64()),
            GgufValueType.Float64 => GgufValue.From(BinaryPrimitives.ReadDoubleLittleEndian(Fill(8))),
            _ => throw Invalid($"{where} has unknown value type {(uint)type}"),
        };

        private string[] ReadStrings(int count)
        {
            var result = new string[count];
            for (var i = 0; i < count; i++)
            {
                result[i] = ReadString();
            }

            return result;
        }

        private T[] ReadArray<T>(int count, int size, ReadElement<T> read)
        {
            var result = new T[count];
            var buffer = new byte[Math.Min(count * size, 1 << 16)];
            var done = 0;
            while (done < count)
            {
                var take = Math.Min(count - done, buffer.Length / size);
                ReadExactly(buffer.AsSpan(0, take * size));
                for (var i = 0; i < take; i++)
                {
                    result[done + i] = read(buffer.AsSpan(i * size, size));
                }

                done += take;
            }

            return result;
        }

        private delegate T ReadElement<out T>(ReadOnlySpan<byte> source);

        private string ReadString()
        {
            var n = ReadUInt64();
            if (n > (ulong)MaxStringBytes || (long)n > Remaining)
            {
                throw Invalid($"{where} holds a string of {n} bytes, more than the {Remaining} bytes left in the file");
            }

            if (n == 0)
            {
                return string.Empty;
            }

            if (n <= 256)
            {
                Span<byte> small = stackalloc byte[(int)n];
                ReadExactly(small);
                return Encoding.UTF8.GetString(small);
            }

            return Encoding.UTF8.GetString(ReadBytes((int)n));
        }

        private byte[] ReadBytes(int n)
        {
            var bytes = new byte[n];
            ReadExactly(bytes);
            return bytes;
        }

        private uint ReadUInt32() => BinaryPrimitives.ReadUInt32LittleEndian(Fill(4));

        private long ReadInt64() => BinaryPrimitives.ReadInt64LittleEndian(Fill(8));

        private ulong ReadUInt64() => BinaryPrimitives.ReadUInt64LittleEndian(Fill(8));

        private ReadOnlySpan<byte> Fill(int n)
        {
            ReadExactly(scratch.AsSpan(0, n));
            return scratch.AsSpan(0, n);
        }

        private void ReadExactly(Span<byte> destination)
        {
            try
            {
                input.ReadExactly(destination);
            }
            catch (EndOfStreamException)
            {
                throw Invalid($"the file is truncated: it ends inside {where} (file length {length - start} bytes)");
            }
        }

        private void CheckCount(long count, long cap, int minBytesEach, string what)
        {
            if (count < 0 || count > cap || count * minBytesEach > Remaining)
            {
                throw Invalid($"implausible {what} {count}: the {Remaining} bytes left in the file cannot hold that many");
            }
        }

        private static long AlignUp(long value, uint alignment) => (value + alignment - 1) / alignment * alignment;

        private static string Truncate(string s) => s.Length <= 80 ? s : s[..80] + "...";

        private static InvalidModelFileException Invalid(string reason) => new($"Invalid GGUF file: {reason}.");
    }
}
