namespace Maas.Core.Datasets.Readers;

/// <summary>
/// A read-only view of a stream that throws <see cref="DatasetTooLargeException"/> once more than a shared budget of
/// bytes has been read through it (or through other views sharing the budget): a zip or gzip bomb stops at the limit
/// instead of filling memory. With <c>hash</c> it keeps the CRC-32 of what was read (gzip's, for
/// <see cref="GzipIntegrity"/>), so checking a file whole needs no second read.
/// </summary>
internal sealed class BoundedReadStream(Stream inner, DecompressionBudget budget, bool leaveOpen = false, bool hash = false) : Stream
{
    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => throw new NotSupportedException();

    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    /// <summary>The bytes read through this view so far.</summary>
    public long Total { get; private set; }

    /// <summary>The CRC-32 of the bytes read so far (0 unless made with <c>hash</c>).</summary>
    public uint Crc32 { get; private set; }

    public override int Read(Span<byte> buffer)
    {
        var read = inner.Read(buffer);
        budget.Spend(read);
        Total += read;
        if (hash)
        {
            Crc32 = GzipIntegrity.Crc32(Crc32, buffer[..read]);
        }

        return read;
    }

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing && !leaveOpen)
        {
            inner.Dispose();
        }

        base.Dispose(disposing);
    }
}
