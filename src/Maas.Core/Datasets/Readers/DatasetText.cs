using System.Text;

namespace Maas.Core.Datasets.Readers;

/// <summary>
/// How the text formats (CSV, TSV, JSON Lines) are decoded: UTF-8, its byte order mark optional, or UTF-16 or UTF-32
/// (little or big endian) with a byte order mark. Decoding is strict in each: bytes that are not text are an error,
/// never a silent U+FFFD.
/// </summary>
internal static class DatasetText
{
    /// <summary>What is accepted, for messages and docs.</summary>
    public const string Accepted = "UTF-8, or UTF-16 or UTF-32 with a byte order mark";

    // Byte order marks. UTF-32 little endian starts as UTF-16's does, so it is looked for first.
    private static ReadOnlySpan<byte> Utf8 => [0xEF, 0xBB, 0xBF];

    private static ReadOnlySpan<byte> Utf16LittleEndian => [0xFF, 0xFE];

    private static ReadOnlySpan<byte> Utf16BigEndian => [0xFE, 0xFF];

    private static ReadOnlySpan<byte> Utf32LittleEndian => [0xFF, 0xFE, 0, 0];

    private static ReadOnlySpan<byte> Utf32BigEndian => [0, 0, 0xFE, 0xFF];

    /// <summary>
    /// A reader of <paramref name="input"/> in the encoding its byte order mark names (UTF-8 without one); a file
    /// without one that starts with NUL bytes (UTF-16 or UTF-32 text) is refused saying so.
    /// </summary>
    public static StreamReader Open(Stream input)
    {
        var head = new byte[4];
        var read = 0;
        while (read < head.Length && input.Read(head, read, head.Length - read) is var n and > 0)
        {
            read += n;
        }

        ReadOnlySpan<byte> start = head.AsSpan(0, read);
        Encoding encoding;
        int mark;
        if (start.StartsWith(Utf32LittleEndian))
        {
            (encoding, mark) = (new UTF32Encoding(bigEndian: false, byteOrderMark: false, throwOnInvalidCharacters: true), 4);
        }
        else if (start.StartsWith(Utf32BigEndian))
        {
            (encoding, mark) = (new UTF32Encoding(bigEndian: true, byteOrderMark: false, throwOnInvalidCharacters: true), 4);
        }
        else if (start.StartsWith(Utf8))
        {
            (encoding, mark) = (new UTF8Encoding(false, throwOnInvalidBytes: true), 3);
        }
        else if (start.StartsWith(Utf16LittleEndian))
        {
            (encoding, mark) = (new UnicodeEncoding(bigEndian: false, byteOrderMark: false, throwOnInvalidBytes: true), 2);
        }
        else if (start.StartsWith(Utf16BigEndian))
        {
            (encoding, mark) = (new UnicodeEncoding(bigEndian: true, byteOrderMark: false, throwOnInvalidBytes: true), 2);
        }
        else if (start.Contains((byte)0))
        {
            // Read as UTF-8 it would be column names full of NULs, a count of fields, or bytes that are not UTF-8.
            throw new DatasetFormatException($"line 1: the file starts with NUL bytes; it looks like UTF-16 without a byte order mark. Save it as {Accepted}");
        }
        else
        {
            (encoding, mark) = (new UTF8Encoding(false, throwOnInvalidBytes: true), 0);
        }

        // The bytes read past the mark go first, then the rest of the stream.
        var rest = new PrefixedReadStream(head.AsMemory(mark, read - mark), input);
        return new StreamReader(rest, encoding, detectEncodingFromByteOrderMarks: false, bufferSize: 1 << 16, leaveOpen: true);
    }

    /// <summary>
    /// The error for bytes that are not text in the reader's encoding. The reader decodes 64 KiB at a time, so
    /// <paramref name="line"/> (where it stood then) is the line of those bytes or one before it.
    /// </summary>
    public static DatasetFormatException NotText(StreamReader reader, int line) =>
        new($"line {line}: the file is not valid {Name(reader.CurrentEncoding)} text (text files must be {Accepted})");

    private static string Name(Encoding encoding) => encoding.CodePage switch
    {
        1200 => "UTF-16 (little endian)",
        1201 => "UTF-16 (big endian)",
        12000 => "UTF-32 (little endian)",
        12001 => "UTF-32 (big endian)",
        _ => "UTF-8",
    };

    // The bytes already taken from a stream that cannot seek back, read again before the rest of it.
    private sealed class PrefixedReadStream(ReadOnlyMemory<byte> prefix, Stream inner) : Stream
    {
        private ReadOnlyMemory<byte> _prefix = prefix;

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            if (_prefix.IsEmpty)
            {
                return inner.Read(buffer);
            }

            var count = Math.Min(buffer.Length, _prefix.Length);
            _prefix.Span[..count].CopyTo(buffer);
            _prefix = _prefix[count..];
            return count;
        }

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
