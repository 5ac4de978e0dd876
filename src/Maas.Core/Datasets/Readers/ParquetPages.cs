using System.Text;

namespace Maas.Core.Datasets.Readers;

/// <summary>
/// Checks every column chunk's page headers before Parquet.Net reads them, as <see cref="ParquetFooter"/> checks the
/// footer. Parquet.Net goes from page to page by the sizes the headers declare until it has the chunk's values: a
/// header read past the end of the file spun for ever on a varint of 0xFF bytes, a negative page size brought it back
/// to the same header (a page that consumes no bytes, read again and again), and a declared size or count was allocated
/// as given (a 2 GB buffer for a 40-byte page). Here each chunk's pages are walked in Parquet.Net's order within the
/// chunk's declared bytes, every size bounded by what is left of the chunk (or by the expansion limit for uncompressed
/// sizes) and every page moving forward, every page's data expanded to the size its header declares (see
/// <see cref="ParquetPageCodecs"/>), the pages' values counted to the chunk's, and no two chunks sharing bytes;
/// <see cref="Guard"/> then lets Parquet.Net read page headers only where this walk found them, and a column only within
/// its chunk.
/// </summary>
internal static class ParquetPages
{
    private const int BooleanTrue = ParquetThriftReader.BooleanTrue;
    private const int BooleanFalse = ParquetThriftReader.BooleanFalse;
    private const int ListType = ParquetThriftReader.ListType;
    private const int StructType = ParquetThriftReader.StructType;

    // Parquet's page types, and its codec of no compression.
    private const int DataPage = 0;
    private const int DictionaryPage = 2;
    private const int DataPageV2 = 3;
    private const int Uncompressed = 0;

    /// <summary>
    /// Throws <see cref="DatasetFormatException"/> unless every page header of <paramref name="file"/> (seekable, its
    /// footer, as <see cref="ParquetFooter.Check"/> returned it) lies within its column chunk, declares sizes that fit
    /// and moves forward; an uncompressed page size over <paramref name="maxPageBytes"/> is refused as well, and compressed
    /// pages that expand to more than it together throw <see cref="DatasetTooLargeException"/>. Returns where
    /// the headers are (for <see cref="Guard"/>) and leaves the file at its start.
    /// </summary>
    public static List<(long Start, long End)> Check(Stream file, byte[] footer, long maxPageBytes)
    {
        // Pages lie between the leading magic and the footer.
        var dataEnd = file.Length - 8 - footer.Length;
        var headers = new List<(long, long)>();
        List<Chunk> chunks;
        try
        {
            chunks = Chunks(footer);
        }
        catch (ParquetCutShortException e)
        {
            throw Bad($"its footer metadata is cut short: {e.Message}"); // ParquetFooter.Check has walked it whole already
        }

        // The pages are expanded here to check their sizes: all of them together within the limit too, as a gzip file's are.
        var expansion = new DecompressionBudget(maxPageBytes);
        var spans = new List<(long Start, long End, string Where)>();
        foreach (var chunk in chunks)
        {
            spans.Add(CheckChunk(file, chunk, dataEnd, expansion, headers));
        }

        // A column read past its own pages is stopped at the end of its chunk (ParquetPageGuard): a chunk said to take
        // the next one's bytes as well left that one's pages to be read as its own.
        spans.Sort();
        for (var i = 1; i < spans.Count; i++)
        {
            if (spans[i].Start < spans[i - 1].End)
            {
                throw Bad($"{spans[i - 1].Where}: its pages (bytes {spans[i - 1].Start} to {spans[i - 1].End}) overlap those of {spans[i].Where} (bytes " +
                    $"{spans[i].Start} to {spans[i].End})");
            }
        }

        headers.Sort();
        file.Position = 0;
        return headers;
    }

    /// <summary>
    /// <paramref name="file"/> as Parquet.Net should read it: single bytes (which only its Thrift reader of page headers
    /// reads) only within the page headers <see cref="Check"/> found, so no header it did not check is ever parsed, and
    /// while a column is read, nothing outside its column chunk.
    /// </summary>
    public static ParquetPageGuard Guard(Stream file, List<(long Start, long End)> headers) => new(file, headers);

    /// <summary>
    /// Where a column chunk's pages are, as Parquet.Net finds them: from the lowest of its page offsets (the dictionary
    /// page comes first), for its total compressed size.
    /// </summary>
    public static (long Start, long End) ChunkBytes(long? dictionaryPageOffset, long dataPageOffset, long? indexPageOffset, long totalCompressedSize)
    {
        long[] offsets = [dictionaryPageOffset ?? 0, dataPageOffset, indexPageOffset ?? 0];
        var start = offsets.Where(o => o != 0).DefaultIfEmpty(0).Min();
        return (start, start + totalCompressedSize);
    }

    private sealed record Chunk(int RowGroup, int Column, string Path, long Codec, long NumValues, long CompressedSize, long DataPageOffset, long IndexPageOffset,
        long DictionaryPageOffset);

    // ---- the footer: the column chunks of every row group ----

    private static List<Chunk> Chunks(byte[] footer)
    {
        var chunks = new List<Chunk>();
        var r = new ParquetThriftReader(footer, "footer metadata");
        while (r.NextField(out var id, out var type))
        {
            if (id == 4 && type == ListType)
            {
                var (elementType, count) = r.ListHeader();
                for (var g = 0; g < count; g++)
                {
                    if (elementType == StructType)
                    {
                        RowGroup(ref r, g, chunks);
                    }
                    else
                    {
                        r.Skip(elementType, 1);
                    }
                }
            }
            else
            {
                r.SkipField(type, 1);
            }
        }

        return chunks;
    }

    private static void RowGroup(ref ParquetThriftReader r, int group, List<Chunk> chunks)
    {
        r.BeginStruct();
        while (r.NextField(out var id, out var type))
        {
            if (id == 1 && type == ListType)
            {
                var (elementType, count) = r.ListHeader();
                for (var c = 0; c < count; c++)
                {
                    if (elementType == StructType)
                    {
                        chunks.Add(ColumnChunk(ref r, group, c));
                    }
                    else
                    {
                        r.Skip(elementType, 2);
                    }
                }
            }
            else
            {
                r.SkipField(type, 2);
            }
        }

        r.EndStruct();
    }

    private static Chunk ColumnChunk(ref ParquetThriftReader r, int group, int column)
    {
        Chunk? chunk = null;
        r.BeginStruct();
        while (r.NextField(out var id, out var type))
        {
            if (id == 3 && type == StructType)
            {
                chunk = ColumnMetaData(ref r, group, column);
            }
            else
            {
                r.SkipField(type, 3);
            }
        }

        r.EndStruct();

        // Parquet.Net reads a chunk's metadata without looking whether it is there.
        return chunk ?? throw Bad($"column chunk {column + 1} of row group {group} has no metadata");
    }

    private static Chunk ColumnMetaData(ref ParquetThriftReader r, int group, int column)
    {
        var path = new StringBuilder();
        long codec = 0, numValues = 0, compressedSize = 0, dataPageOffset = 0, indexPageOffset = 0, dictionaryPageOffset = 0;
        r.BeginStruct();
        while (r.NextField(out var id, out var type))
        {
            switch (id)
            {
                case 3 when type == ListType:
                    var (elementType, count) = r.ListHeader();
                    for (var i = 0; i < count; i++)
                    {
                        if (elementType == 8 && path.Length < 200)
                        {
                            path.Append(path.Length > 0 ? "." : "").Append(Encoding.UTF8.GetString(r.Binary()));
                        }
                        else
                        {
                            r.Skip(elementType, 4);
                        }
                    }

                    break;
                case 4 when r.IsInteger(type):
                    codec = r.Integer(type);
                    break;
                case 5 when r.IsInteger(type):
                    numValues = r.Integer(type);
                    break;
                case 7 when r.IsInteger(type):
                    compressedSize = r.Integer(type);
                    break;
                case 9 when r.IsInteger(type):
                    dataPageOffset = r.Integer(type);
                    break;
                case 10 when r.IsInteger(type):
                    indexPageOffset = r.Integer(type);
                    break;
                case 11 when r.IsInteger(type):
                    dictionaryPageOffset = r.Integer(type);
                    break;
                default:
                    r.SkipField(type, 4);
                    break;
            }
        }

        r.EndStruct();
        var name = path.Length > 0 ? path.ToString() : $"{column + 1}";
        return new Chunk(group, column, name.Length > 80 ? name[..77] + "..." : name, codec, numValues, compressedSize, dataPageOffset, indexPageOffset, dictionaryPageOffset);
    }

    // ---- the pages of one chunk, in the order Parquet.Net reads them ----

    // Returns the chunk's bytes and its name.
    private static (long Start, long End, string Where) CheckChunk(Stream file, Chunk chunk, long dataEnd, DecompressionBudget expansion, List<(long, long)> headers)
    {
        var maxPageBytes = expansion.Limit;
        var where = $"row group {chunk.RowGroup}, column '{chunk.Path}'";

        var (start, end) = CheckedChunkBytes(chunk, dataEnd, where);
        var offset = start;
        long values = 0;
        var dictionary = false;
        while (values < chunk.NumValues)
        {
            if (offset >= end)
            {
                throw Bad($"{where}: its pages end at byte {end} with {values} of its {chunk.NumValues} values");
            }

            var page = ReadHeader(file, offset, end, where);
            var at = $"{where}: the page at byte {offset}";
            var dataStart = offset + page.HeaderLength;
            if (page.CompressedSize < 0 || page.CompressedSize > end - dataStart)
            {
                throw Bad($"{at} declares {page.CompressedSize} bytes where its column chunk has {end - dataStart} bytes left");
            }

            if (page.UncompressedSize < 0 || page.UncompressedSize > maxPageBytes)
            {
                throw Bad($"{at} declares {page.UncompressedSize} bytes uncompressed, over the limit of {maxPageBytes} ({DatasetOptions.Section}:MaxDecompressedBytes)");
            }

            long levels = 0;
            switch (page.Type)
            {
                case DictionaryPage:
                    // A dictionary cannot hold more entries than the chunk has values; Parquet.Net allocates as many.
                    if (dictionary || page.Values is not { } entries || entries < 0 || entries > chunk.NumValues)
                    {
                        throw Bad(dictionary ? $"{at} is a second dictionary page" : $"{at} is a dictionary page of " +
                            $"{page.Values?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "no"} entries for {chunk.NumValues} values");
                    }

                    dictionary = true;
                    break;
                case DataPage or DataPageV2:
                    if (page.Values is not { } count || count < 0)
                    {
                        throw Bad($"{at} is a data page without a header saying how many values it holds");
                    }

                    if (page.Type == DataPageV2)
                    {
                        levels = page.LevelBytes;
                        if (levels < 0 || levels > page.CompressedSize)
                        {
                            throw Bad($"{at} declares {levels} bytes of levels in a page of {page.CompressedSize} bytes");
                        }
                    }

                    values += count;
                    break;
                default:
                    throw Bad($"{at} is of page type {page.Type}, which this server does not read");
            }

            CheckData(file, chunk.Codec, page, dataStart, levels, expansion, at);
            headers.Add((offset, dataStart));
            offset = dataStart + page.CompressedSize; // at least the header's bytes on: every page moves forward
        }

        // Parquet.Net decodes a page's values into what is left of the column's buffer: more than the chunk holds are
        // values of rows it does not have.
        if (values != chunk.NumValues)
        {
            throw Bad($"{where}: its pages hold {values} values where its metadata says {chunk.NumValues}");
        }

        return (start, end, where);
    }

    // The chunk's bytes, from its metadata: within the file's data, of a codec Parquet.Net expands, a count of values.
    private static (long Start, long End) CheckedChunkBytes(Chunk chunk, long dataEnd, string where)
    {
        var (start, end) = ChunkBytes(chunk.DictionaryPageOffset, chunk.DataPageOffset, chunk.IndexPageOffset, chunk.CompressedSize);
        if (start == 0)
        {
            throw Bad($"{where}: its metadata gives no page offset");
        }

        if (start < 4 || start >= dataEnd)
        {
            throw Bad($"{where}: its pages start at byte {start}, outside the file's data (bytes 4 to {dataEnd})");
        }

        if (chunk.CompressedSize <= 0 || chunk.CompressedSize > dataEnd - start)
        {
            throw Bad($"{where}: its pages are said to take {chunk.CompressedSize} bytes from byte {start}, where the file's data has {dataEnd - start} bytes left");
        }

        if (!ParquetPageCodecs.Reads(chunk.Codec))
        {
            throw Bad($"{where}: its pages are compressed with {ParquetPageCodecs.Name(chunk.Codec)}, which this server does not read (UNCOMPRESSED, SNAPPY, GZIP, BROTLI, LZ4, " +
                $"ZSTD and LZ4_RAW it does)");
        }

        if (chunk.NumValues < 0)
        {
            throw Bad($"{where}: its metadata says it holds {chunk.NumValues} values");
        }

        return (start, end);
    }

    // A page's data is exactly the size its header declares, uncompressed or once expanded as Parquet.Net expands it: it
    // expands a page into a pooled buffer of the declared size, so data that fell short left the rest of the buffer (a
    // read before this one's bytes) to be read as values, and data that ran over was cut without a word.
    private static void CheckData(Stream file, long codec, PageHeader page, long dataStart, long levels, DecompressionBudget expansion, string at)
    {
        if (codec == Uncompressed || !page.Compressed)
        {
            if (page.CompressedSize != page.UncompressedSize)
            {
                var what = page.Values is { } n ? $"its {n} values" : "its values";
                throw Bad($"{at} says {what} take {page.UncompressedSize} bytes, but it holds {page.CompressedSize} bytes of uncompressed data");
            }

            return;
        }

        // A data page v2 keeps its levels uncompressed ahead of the compressed values; both sizes count them.
        var expected = page.UncompressedSize - levels;
        var after = levels > 0 ? $" after its {levels} bytes of levels" : "";
        if (expected < 0)
        {
            throw Bad($"{at} declares {levels} bytes of levels in {page.UncompressedSize} bytes uncompressed");
        }

        expansion.Spend(expected);
        var data = new byte[page.CompressedSize - levels];
        file.Position = dataStart + levels;
        file.ReadExactly(data);
        var name = ParquetPageCodecs.Name(codec);
        long length;
        try
        {
            length = ParquetPageCodecs.Expand(codec, data, (int)expected, expansion.Limit);
        }
        catch (InvalidDataException e)
        {
            throw Bad($"{at} holds data that cannot be expanded as {name}{after} ({e.Message})");
        }

        if (length != expected)
        {
            var size = length == expected + 1 ? $"more than {expected} bytes" : $"{length} bytes";
            throw Bad($"{at} holds {name} data that expands to {size}{after}, but its header declares {expected}");
        }
    }

    private readonly record struct PageHeader(int HeaderLength, long Type, long UncompressedSize, long CompressedSize, long? Values, long LevelBytes, bool Compressed);

    // The header at offset, read within the chunk: a first guess of its size, more while it is cut short.
    private static PageHeader ReadHeader(Stream file, long offset, long end, string where)
    {
        var window = (int)Math.Min(end - offset, 1024);
        while (true)
        {
            var bytes = new byte[window];
            file.Position = offset;
            file.ReadExactly(bytes);
            try
            {
                return ParseHeader(bytes, $"{where}: the page header at byte {offset}");
            }
            catch (ParquetCutShortException) when (window < end - offset)
            {
                window = (int)Math.Min(end - offset, (long)window * 8);
            }
            catch (ParquetCutShortException e)
            {
                throw Bad($"{where}: the page header at byte {offset} runs past the end of its column chunk at byte {end} ({e.Message})");
            }
        }
    }

    private static PageHeader ParseHeader(byte[] bytes, string what)
    {
        var r = new ParquetThriftReader(bytes, what);
        long type = -1, uncompressed = -1, compressed = -1, levels = 0;
        long? values = null;
        var isCompressed = true;
        while (r.NextField(out var id, out var fieldType))
        {
            switch (id)
            {
                case 1 when r.IsInteger(fieldType):
                    type = r.Int32(fieldType);
                    break;
                case 2 when r.IsInteger(fieldType):
                    uncompressed = r.Int32(fieldType);
                    break;
                case 3 when r.IsInteger(fieldType):
                    compressed = r.Int32(fieldType);
                    break;
                case 5 or 7 or 8 when fieldType == StructType:
                    // Data page, dictionary page, data page v2: num_values is field 1 of each.
                    r.BeginStruct();
                    while (r.NextField(out var inner, out var innerType))
                    {
                        if (inner == 1 && r.IsInteger(innerType))
                        {
                            var count = r.Int32(innerType);
                            if ((id == 5 && type == DataPage) || (id == 7 && type == DictionaryPage) || (id == 8 && type == DataPageV2))
                            {
                                values = count;
                            }
                        }
                        else if (id == 8 && inner is 5 or 6 && r.IsInteger(innerType))
                        {
                            var length = r.Int32(innerType);
                            levels += length >= 0 ? length : throw Bad($"{what} declares {length} bytes of levels");
                        }
                        else if (id == 8 && inner == 7 && innerType is BooleanTrue or BooleanFalse)
                        {
                            isCompressed = innerType == BooleanTrue;
                        }
                        else
                        {
                            r.SkipField(innerType, 1);
                        }
                    }

                    r.EndStruct();
                    break;
                default:
                    r.SkipField(fieldType, 0);
                    break;
            }
        }

        if (type < 0 || uncompressed < 0 || compressed < 0)
        {
            throw Bad($"{what} lacks its page type or sizes, or declares a negative one (type {type}, {uncompressed} bytes uncompressed, {compressed} compressed)");
        }

        return new PageHeader(r.Position, type, uncompressed, compressed, values, levels, type != DataPageV2 || isCompressed);
    }

    private static DatasetFormatException Bad(string what) => ParquetThriftReader.Bad(what);
}
