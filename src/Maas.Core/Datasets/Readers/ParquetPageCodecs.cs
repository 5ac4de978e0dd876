using System.Buffers;
using System.IO.Compression;
using K4os.Compression.LZ4;
using Snappier;
using ZstdSharp;

namespace Maas.Core.Datasets.Readers;

/// <summary>
/// Expands a compressed Parquet page's data with the library Parquet.Net uses for its codec, to learn how many bytes it
/// really holds. Parquet.Net expands a page into a pooled buffer of the size its header declares and never looks at how
/// much was written (Brotli, LZ4), slices it to what came out (Gzip), or takes the size the data gives (Snappy, Zstd):
/// data shorter than declared left the rest of the buffer as another read's leftovers, read as values, or a short page.
/// </summary>
internal static class ParquetPageCodecs
{
    private const int CodecSnappy = 1;
    private const int CodecGzip = 2;
    private const int CodecBrotli = 4;
    private const int CodecLz4 = 5;
    private const int CodecZstd = 6;
    private const int CodecLz4Raw = 7;

    /// <summary>Whether Parquet.Net expands <paramref name="codec"/> (LZO and codecs the format does not define it does not).</summary>
    public static bool Reads(long codec) => codec is 0 or CodecSnappy or CodecGzip or CodecBrotli or CodecLz4 or CodecZstd or CodecLz4Raw;

    /// <summary>The codec's name as the Parquet format spells it.</summary>
    public static string Name(long codec) => codec switch
    {
        0 => "UNCOMPRESSED",
        CodecSnappy => "SNAPPY",
        CodecGzip => "GZIP",
        3 => "LZO",
        CodecBrotli => "BROTLI",
        CodecLz4 => "LZ4",
        CodecZstd => "ZSTD",
        CodecLz4Raw => "LZ4_RAW",
        _ => $"codec {codec}",
    };

    /// <summary>
    /// How many bytes <paramref name="data"/> expands to under <paramref name="codec"/>, counted no further than
    /// <paramref name="expected"/> + 1 for a stream (one byte more is as wrong as a gigabyte more, and nothing past it is
    /// made) or into a buffer of <paramref name="expected"/> bytes for a block; throws <see cref="InvalidDataException"/>
    /// when the data is not of the codec, or a Zstd page says it may expand to more than <paramref name="maxBytes"/>
    /// (Parquet.Net allocates what its frames say, not what the page header says).
    /// </summary>
    public static long Expand(long codec, byte[] data, int expected, long maxBytes)
    {
        try
        {
            return codec switch
            {
                CodecGzip => Count(new GZipStream(new MemoryStream(data), CompressionMode.Decompress), expected),
                CodecBrotli => Count(new BrotliStream(new MemoryStream(data), CompressionMode.Decompress), expected),
                CodecSnappy => Block(data, expected, SnappyLength),
                CodecLz4 or CodecLz4Raw => Block(data, expected, Lz4Length),
                CodecZstd => Block(data, expected, (d, t) => ZstdLength(d, t, maxBytes)),
                _ => throw new InvalidDataException($"{Name(codec)} is not a codec this server reads"),
            };
        }
        catch (Exception e) when (e is ZstdException or ArgumentException or IndexOutOfRangeException)
        {
            throw new InvalidDataException(e.Message, e);
        }
    }

    private delegate long BlockDecoder(ReadOnlySpan<byte> data, Span<byte> target);

    // A stream's bytes, read until it ends or is one past expected.
    private static long Count(Stream decoder, int expected)
    {
        using var scope = decoder;
        var buffer = ArrayPool<byte>.Shared.Rent(81920);
        try
        {
            long total = 0;
            int read;
            while (total <= expected && (read = decoder.Read(buffer, 0, (int)Math.Min(buffer.Length, expected + 1L - total))) > 0)
            {
                total += read;
            }

            return total;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    // A block codec's data expanded into a buffer of expected bytes.
    private static long Block(byte[] data, int expected, BlockDecoder decode)
    {
        var target = ArrayPool<byte>.Shared.Rent(expected);
        try
        {
            return decode(data, target.AsSpan(0, expected));
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(target);
        }
    }

    // Snappy data begins with the size it expands to (Parquet.Net allocates that); the rest must make exactly as many.
    private static long SnappyLength(ReadOnlySpan<byte> data, Span<byte> target)
    {
        var declared = Snappy.GetUncompressedLength(data);
        return declared > target.Length ? declared : Snappy.Decompress(data, target);
    }

    // LZ4 (Parquet.Net reads the deprecated LZ4 codec as LZ4_RAW, a block with no framing): -1 when it does not fit.
    private static long Lz4Length(ReadOnlySpan<byte> data, Span<byte> target) =>
        LZ4Codec.Decode(data, target) is var n and >= 0 ? n : throw new InvalidDataException($"not an LZ4 block of at most {target.Length} bytes");

    private static long ZstdLength(ReadOnlySpan<byte> data, Span<byte> target, long maxBytes)
    {
        // Parquet.Net allocates the bound the frames give: their content sizes, or their blocks times the largest block.
        var bound = Decompressor.GetDecompressedSize(data);
        if (bound > (ulong)maxBytes)
        {
            throw new InvalidDataException($"its frames may expand to {bound} bytes, over the limit of {maxBytes} ({DatasetOptions.Section}:MaxDecompressedBytes)");
        }

        using var decompressor = new Decompressor();
        return decompressor.TryUnwrap(data, target, out var written) ? written : target.Length + 1L;
    }
}
