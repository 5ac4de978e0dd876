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
    /// <summary>
    /// Throws <see cref="DatasetFormatException"/> unless <paramref name="file"/> (seekable) ends in a whole footer;
    /// returns the footer's metadata bytes and leaves the file at its start.
    /// </summary>
    public static byte[] Check(Stream file)
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
        var reader = new ParquetThriftReader(footer, "its footer metadata");
        try
        {
            reader.Skip(ParquetThriftReader.StructType, 0);
        }
        catch (ParquetCutShortException e)
        {
            throw Bad($"its footer metadata is cut short: {e.Message}");
        }

        if (reader.Position != footer.Length)
        {
            throw Bad($"its footer metadata ends after {reader.Position} of its {footer.Length} bytes");
        }

        return footer;
    }

    private static DatasetFormatException Bad(string what) => ParquetThriftReader.Bad(what);
}
