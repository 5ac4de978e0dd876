namespace Maas.Core.Datasets.Readers;

/// <summary>
/// A Parquet file as Parquet.Net reads it once <see cref="ParquetPages.Check"/> has walked its pages. Single-byte reads
/// (Parquet.Net's Thrift reader of page headers; its footer and page data are read in blocks) are let through only within
/// the headers found: at the end of the file they returned -1, read as 0xFF for ever. While a column is read
/// (<see cref="Enter"/>), every read must also lie within its column chunk: Parquet.Net reads pages until it has the
/// chunk's values, so a page that gave fewer values than its header says sent it on into the next column's first page,
/// whose values it took as this column's.
/// </summary>
internal sealed class ParquetPageGuard(Stream inner, List<(long Start, long End)> headers) : Stream
{
    private int _current;
    private (long Start, long End, string Where)? _chunk;
    private long _lastHeader = -1;

    public override bool CanRead => true;

    public override bool CanSeek => true;

    public override bool CanWrite => false;

    public override long Length => inner.Length;

    public override long Position { get => inner.Position; set => inner.Position = value; }

    /// <summary>Bounds every read to one column chunk's bytes (<paramref name="where"/> names it) until <see cref="Leave"/>.</summary>
    public void Enter(long start, long end, string where)
    {
        _chunk = (start, end, where);
        _lastHeader = -1;
    }

    public void Leave() => _chunk = null;

    public override int ReadByte()
    {
        var position = inner.Position;
        if (_chunk is { } chunk && (position < chunk.Start || position >= chunk.End))
        {
            var after = _lastHeader >= 0 ? $" after the page at byte {_lastHeader}" : "";
            throw new InvalidDataException($"{chunk.Where}: its pages gave fewer values than their headers and its metadata say, and reading went on{after} to a page header at " +
                $"byte {position}, outside its column chunk (bytes {chunk.Start} to {chunk.End})");
        }

        if (!Within(position))
        {
            var where = _chunk is { } c ? $"{c.Where}: " : "";
            throw new InvalidDataException($"{where}a page header read at byte {position}, where no checked page header is");
        }

        if (_chunk is not null && position == headers[_current].Start)
        {
            _lastHeader = position;
        }

        return inner.ReadByte();
    }

    private bool Within(long position)
    {
        if (_current < headers.Count && headers[_current].Start <= position && position < headers[_current].End)
        {
            return true;
        }

        // Binary search for the header holding position.
        int low = 0, high = headers.Count - 1;
        while (low <= high)
        {
            var mid = (low + high) / 2;
            if (headers[mid].End <= position)
            {
                low = mid + 1;
            }
            else if (headers[mid].Start > position)
            {
                high = mid - 1;
            }
            else
            {
                _current = mid;
                return true;
            }
        }

        return false;
    }

    // A block read (page data, or a binary field of a header) while a column is read must lie within its chunk.
    private void CheckBlock(int count)
    {
        var position = inner.Position;
        if (_chunk is { } chunk && count > 0 && (position < chunk.Start || position + count > chunk.End))
        {
            throw new InvalidDataException($"{chunk.Where}: a read of {count} bytes at byte {position}, outside its column chunk (bytes {chunk.Start} to {chunk.End})");
        }
    }

    public override int Read(byte[] buffer, int offset, int count)
    {
        CheckBlock(count);
        return inner.Read(buffer, offset, count);
    }

    public override int Read(Span<byte> buffer)
    {
        CheckBlock(buffer.Length);
        return inner.Read(buffer);
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
    {
        CheckBlock(count);
        return inner.ReadAsync(buffer, offset, count, cancellationToken);
    }

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        CheckBlock(buffer.Length);
        return inner.ReadAsync(buffer, cancellationToken);
    }

    public override long Seek(long offset, SeekOrigin origin) => inner.Seek(offset, origin);

    public override void Flush()
    {
    }

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
