using System.Globalization;
using System.Text;
using Maas.Core.Registry;
using Parquet;
using Parquet.Schema;

namespace Maas.Core.Datasets.Readers;

/// <summary>Reads a Parquet file's flat columns (numbers, booleans, text, dates) into a <see cref="DatasetTable"/>.</summary>
/// <remarks>
/// Nested and repeated fields are refused by name: a training table has one value per cell. Text is held to
/// <see cref="DatasetReadOptions.MaxFieldBytes"/> (a column name or one cell) and <see cref="DatasetReadOptions.MaxRowBytes"/>
/// (the text cells of one row together), measured as UTF-8 as a CSV field and row are.
/// </remarks>
internal static class ParquetDatasetReader
{
    // options: the column, field and row limits, and whether column names lose surrounding white space as a CSV
    // header's do (not only to read back a version stored before they did).
    public static DatasetTable Read(Stream input, DecompressionBudget budget, DatasetReadOptions options)
    {
        // The reader seeks to the footer; a non-seekable input is buffered (bounded like any expanded file).
        Stream seekable = input;
        if (!input.CanSeek)
        {
            var buffer = new MemoryStream();
            new BoundedReadStream(input, budget, leaveOpen: true).CopyTo(buffer);
            buffer.Position = 0;
            seekable = buffer;
        }

        var footer = ParquetFooter.Check(seekable);
        var headers = ParquetPages.Check(seekable, footer, budget.Limit);
        try
        {
            // Sync over async is safe here: the caller runs on a pool thread with no synchronisation context.
            return ReadAsync(ParquetPages.Guard(seekable, headers), budget, options).GetAwaiter().GetResult();
        }
        catch (Exception e) when (e is ParquetException or Parquet.Meta.Proto.ThriftProtocolException or IOException or InvalidDataException or NotSupportedException
            or InvalidOperationException or ArgumentException or FormatException or OverflowException or IndexOutOfRangeException or ZstdSharp.ZstdException)
        {
            throw new DatasetFormatException($"the file is not a Parquet file this server reads ({e.Message})");
        }
    }

    private static async Task<DatasetTable> ReadAsync(ParquetPageGuard stream, DecompressionBudget budget, DatasetReadOptions options)
    {
        var reader = await ParquetReader.CreateAsync(stream, null, leaveStreamOpen: true).ConfigureAwait(false);
        await using var readerScope = reader.ConfigureAwait(false);
        var fields = reader.Schema.GetDataFields();
        if (fields.Length == 0)
        {
            throw new DatasetFormatException("the Parquet file has no columns");
        }

        if (fields.Length > options.MaxColumns)
        {
            throw new DatasetFormatException($"{fields.Length} columns, over the limit of {options.MaxColumns} ({DatasetOptions.Section}:MaxColumns)");
        }

        var columns = Columns(fields, options);
        var rows = new List<object?[]>();
        for (var g = 0; g < reader.RowGroupCount; g++)
        {
            using var group = reader.OpenRowGroupReader(g);
            var count = checked((int)group.RowCount);

            // Every cell costs about a pointer and a boxed value; counted against the same budget as expanded bytes.
            budget.Spend((long)count * fields.Length * 16);
            var start = rows.Count;
            for (var r = 0; r < count; r++)
            {
                rows.Add(new object?[fields.Length]);
            }

            // The UTF-8 bytes of each row's text cells so far, added to column by column as the group is read.
            var rowBytes = new long[count];
            for (var c = 0; c < fields.Length; c++)
            {
                var values = await ReadColumnWithinChunkAsync(stream, group, fields[c], count, g).ConfigureAwait(false);
                if (IsText(fields[c].ClrType))
                {
                    CheckText(values, rowBytes, new TextPlace(g, start, columns[c].Name), options);
                }

                for (var r = 0; r < count; r++)
                {
                    rows[start + r][c] = values[r];
                }
            }
        }

        return new DatasetTable(columns, rows);
    }

    // The fields as columns: flat, named (names within the field limit, as a CSV header's are), each name once.
    private static DatasetColumn[] Columns(DataField[] fields, DatasetReadOptions options)
    {
        var trimNames = options.TrimColumnNames;
        var columns = new DatasetColumn[fields.Length];
        var seen = new HashSet<string>(StringComparer.Ordinal);
        long namesBytes = 0;
        for (var c = 0; c < fields.Length; c++)
        {
            var field = fields[c];
            if (field.IsArray || field.Path.ToList().Count > 1)
            {
                throw new DatasetFormatException($"column '{field.Path}': nested or repeated fields are not supported; flatten the table to one value per cell");
            }

            // The names, as written, are the header row of the table: measured as a CSV header's fields and row are.
            var nameBytes = Utf8Bytes(field.Name, options.MaxFieldBytes);
            if (nameBytes > options.MaxFieldBytes)
            {
                throw TooLong($"column {c + 1} (the header)", 0, field.Name, "its name is", "MaxFieldBytes", options.MaxFieldBytes);
            }

            namesBytes += nameBytes;
            if (namesBytes > options.MaxRowBytes)
            {
                throw TooLong($"column {c + 1} (the header)", 0, field.Name, "the column names so far are", "MaxRowBytes", options.MaxRowBytes);
            }

            // As a CSV header: rows are keyed by column name (previews, features, labels), so two columns of one name
            // kept one of their values without a word, and a blank name cannot be picked. Names are trimmed as a CSV
            // header's are, so " a" and "a" are one name.
            var name = trimNames ? field.Name.Trim() : field.Name;
            if (string.IsNullOrWhiteSpace(name))
            {
                throw new DatasetFormatException($"column {c + 1} has no name");
            }

            if (!seen.Add(name))
            {
                throw new DatasetFormatException(
                    $"column name '{RegistryNames.Shorten(name)}' appears twice{(trimNames ? " (names are trimmed of surrounding spaces, as CSV column names are)" : "")}");
            }

            columns[c] = new DatasetColumn(name, TypeOf(field));
        }

        return columns;
    }

    // Where a column of text was read: its row group, the number of rows before the group, its name.
    private readonly record struct TextPlace(int RowGroup, int RowsBefore, string Column);

    // A cell over the field limit, or a row whose text cells together pass the row limit, stops the reading there. The
    // column is read whole first (Parquet.Net decodes a column chunk at once, within MaxDecompressedBytes); a row is
    // refused at the first column whose text takes it over the limit, so the refusal names that column as well.
    private static void CheckText(object?[] values, long[] rowBytes, TextPlace place, DatasetReadOptions options)
    {
        for (var r = 0; r < values.Length; r++)
        {
            if (values[r] is not string text)
            {
                continue;
            }

            var bytes = Utf8Bytes(text, options.MaxFieldBytes);
            var row = place.RowsBefore + r + 1;
            if (bytes > options.MaxFieldBytes)
            {
                throw TooLong($"row {row} (row group {place.RowGroup})", row, place.Column, $"the value of column '{RegistryNames.Shorten(place.Column)}' is", "MaxFieldBytes",
                    options.MaxFieldBytes);
            }

            rowBytes[r] += bytes;
            if (rowBytes[r] > options.MaxRowBytes)
            {
                throw TooLong($"row {row} (row group {place.RowGroup})", row, place.Column, $"the text of the row, through column '{RegistryNames.Shorten(place.Column)}', is",
                    "MaxRowBytes", options.MaxRowBytes);
            }
        }
    }

    // The UTF-8 bytes of text; a UTF-16 code unit is at least one byte, so text of more units than limit is not counted.
    private static long Utf8Bytes(string text, int limit) => text.Length > limit ? text.Length : Encoding.UTF8.GetByteCount(text);

    // "row 7 (row group 1): ... longer than the limit of 64 bytes (Maas:Datasets:MaxFieldBytes)"; the details carry the
    // setting, its value, the row (0 for the column names) and the column, as a text file's carry the line and the row.
    private static DatasetFormatException TooLong(string where, int row, string column, string what, string setting, int limit) => new(
        $"{where}: {what} longer than the limit of {limit} bytes ({DatasetOptions.Section}:{setting})",
        new Dictionary<string, object?>
        {
            ["setting"] = $"{DatasetOptions.Section}:{setting}",
            ["limit"] = limit,
            ["row"] = row,
            ["column"] = RegistryNames.Shorten(column),
        });

    private static DatasetColumnType TypeOf(DataField field)
    {
        var type = field.ClrType;
        if (type == typeof(bool))
        {
            return DatasetColumnType.Boolean;
        }

        if (IsText(type) || type == typeof(DateTime) || type == typeof(DateTimeOffset) || type == typeof(DateOnly) || type == typeof(TimeSpan) || type == typeof(TimeOnly) ||
            type == typeof(Guid))
        {
            return DatasetColumnType.String;
        }

        if (IsNumeric(type))
        {
            return DatasetColumnType.Number;
        }

        throw new DatasetFormatException($"column '{field.Name}': Parquet type {type.Name} is not supported (numbers, booleans, text and dates are)");
    }

    // Parquet.Net 6 reports UTF-8 text as ReadOnlyMemory<char>; older writers' string type is accepted too.
    private static bool IsText(Type type) => type == typeof(string) || type == typeof(ReadOnlyMemory<char>);

    private static bool IsNumeric(Type type) =>
        type == typeof(double) || type == typeof(float) || type == typeof(int) || type == typeof(long) || type == typeof(short)
        || type == typeof(sbyte) || type == typeof(byte) || type == typeof(ushort) || type == typeof(uint) || type == typeof(ulong)
        || type == typeof(decimal) || type == typeof(Half);

    // The column read with every read bounded to its column chunk, as its metadata (the same Parquet.Net reads) places it.
    private static async Task<object?[]> ReadColumnWithinChunkAsync(ParquetPageGuard guard, ParquetRowGroupReader group, DataField field, int count, int rowGroup)
    {
        var meta = group.GetMetadata(field)?.MetaData;
        if (meta is not null)
        {
            var (start, end) = ParquetPages.ChunkBytes(meta.DictionaryPageOffset, meta.DataPageOffset, meta.IndexPageOffset, meta.TotalCompressedSize);
            guard.Enter(start, end, $"row group {rowGroup}, column '{field.Name}'");
        }

        try
        {
            return await ReadColumnAsync(group, field, count, rowGroup).ConfigureAwait(false);
        }
        finally
        {
            guard.Leave();
        }
    }

    private static async Task<object?[]> ReadColumnAsync(ParquetRowGroupReader group, DataField field, int count, int rowGroup)
    {
        var type = field.ClrType;
        return type switch
        {
            _ when IsText(type) => await Cells<ReadOnlyMemory<char>>(group, field, count, rowGroup, v => new string(v.Span)).ConfigureAwait(false),
            _ when type == typeof(bool) => await Cells<bool>(group, field, count, rowGroup, v => v).ConfigureAwait(false),
            _ when type == typeof(double) => await Cells<double>(group, field, count, rowGroup, v => Finite(v)).ConfigureAwait(false),
            _ when type == typeof(float) => await Cells<float>(group, field, count, rowGroup, v => Finite(v)).ConfigureAwait(false),
            _ when type == typeof(Half) => await Cells<Half>(group, field, count, rowGroup, v => Finite((double)v)).ConfigureAwait(false),
            _ when type == typeof(int) => await Cells<int>(group, field, count, rowGroup, v => (double)v).ConfigureAwait(false),
            _ when type == typeof(long) => await Cells<long>(group, field, count, rowGroup, v => (double)v).ConfigureAwait(false),
            _ when type == typeof(short) => await Cells<short>(group, field, count, rowGroup, v => (double)v).ConfigureAwait(false),
            _ when type == typeof(sbyte) => await Cells<sbyte>(group, field, count, rowGroup, v => (double)v).ConfigureAwait(false),
            _ when type == typeof(byte) => await Cells<byte>(group, field, count, rowGroup, v => (double)v).ConfigureAwait(false),
            _ when type == typeof(ushort) => await Cells<ushort>(group, field, count, rowGroup, v => (double)v).ConfigureAwait(false),
            _ when type == typeof(uint) => await Cells<uint>(group, field, count, rowGroup, v => (double)v).ConfigureAwait(false),
            _ when type == typeof(ulong) => await Cells<ulong>(group, field, count, rowGroup, v => (double)v).ConfigureAwait(false),
            _ when type == typeof(decimal) => await Cells<decimal>(group, field, count, rowGroup, v => (double)v).ConfigureAwait(false),
            _ when type == typeof(DateTime) => await Cells(group, field, count, rowGroup, DateTimeText(field)).ConfigureAwait(false),
            _ when type == typeof(DateTimeOffset) =>
                await Cells<DateTimeOffset>(group, field, count, rowGroup, v => v.ToString("O", CultureInfo.InvariantCulture)).ConfigureAwait(false),
            _ when type == typeof(DateOnly) => await Cells<DateOnly>(group, field, count, rowGroup, v => v.ToString("O", CultureInfo.InvariantCulture)).ConfigureAwait(false),
            _ when type == typeof(TimeOnly) => await Cells<TimeOnly>(group, field, count, rowGroup, v => v.ToString("O", CultureInfo.InvariantCulture)).ConfigureAwait(false),
            _ when type == typeof(TimeSpan) => await Cells<TimeSpan>(group, field, count, rowGroup, v => v.ToString("c", CultureInfo.InvariantCulture)).ConfigureAwait(false),
            _ when type == typeof(Guid) => await Cells<Guid>(group, field, count, rowGroup, v => v.ToString()).ConfigureAwait(false),
            _ => throw new DatasetFormatException($"row group {rowGroup}, column '{field.Name}': Parquet type {type.Name} is not supported"),
        };
    }

    // A timestamp's text follows the file's schema, not the kind Parquet.Net gives the value (INT96 comes back with none):
    // one adjusted to UTC (isAdjustedToUTC, the legacy TIMESTAMP_MILLIS and _MICROS, INT96, all UTC by the format's
    // rules) ends in Z; a local one (and a DATE) is the wall-clock time as written, with no zone.
    private static Func<DateTime, object?> DateTimeText(DataField field)
    {
        var kind = field is DateTimeDataField { IsAdjustedToUTC: true, DateTimeFormat: not DateTimeFormat.Date } ? DateTimeKind.Utc : DateTimeKind.Unspecified;
        return v => DateTime.SpecifyKind(v, kind).ToString("O", CultureInfo.InvariantCulture);
    }

    private static object? Finite(double value) => double.IsFinite(value) ? value : null;

    // The column's values, read raw into arrays of this reader's own. Parquet.Net's nullable and text overloads rent
    // their buffers from the process's shared pools and then read what the file never wrote into them: the definition
    // levels of a required column (so a negative number an earlier renter left made a value null and moved the later
    // ones up a row) and, in a chunk of fewer values than rows, another request's leftover values.
    private static async Task<object?[]> Cells<T>(ParquetRowGroupReader group, DataField field, int count, int rowGroup, Func<T, object?> convert)
        where T : struct
    {
        // A flat column has one value (or null) per row; the rows of a chunk that declares fewer would be left unread.
        var declared = group.GetMetadata(field)?.MetaData?.NumValues;
        if (declared != count)
        {
            throw new DatasetFormatException($"row group {rowGroup}, column '{field.Name}': {declared?.ToString(CultureInfo.InvariantCulture) ?? "no"} values for {count} rows");
        }

        var values = new T[count];
        var cells = new object?[count];
        if (field.MaxDefinitionLevel == 0)
        {
            await group.ReadRawAsync<T>(field, values.AsMemory(), null, null).ConfigureAwait(false);
            for (var i = 0; i < count; i++)
            {
                cells[i] = convert(values[i]);
            }

            return cells;
        }

        // A flat optional column has a definition level per row: its maximum for a value, less for a null; -1 is none read.
        var levels = new int[count];
        Array.Fill(levels, -1);
        var marker = ParquetUnwrittenValues.Fill(values);
        await group.ReadRawAsync<T>(field, values.AsMemory(), levels.AsMemory(), null).ConfigureAwait(false);
        var defined = 0;
        for (var i = 0; i < count; i++)
        {
            if (levels[i] < 0)
            {
                throw new DatasetFormatException($"row group {rowGroup}, column '{field.Name}': {i} values read for {count} rows");
            }

            defined += levels[i] == field.MaxDefinitionLevel ? 1 : 0;
        }

        // Parquet.Net counts a page's values by its levels and decodes what its data holds: data of fewer values than the
        // levels define left the rest of the buffer as it was, read as values.
        if (await ParquetUnwrittenValues.FirstAsync(group, field, values, defined, marker).ConfigureAwait(false) is { } written)
        {
            throw new DatasetFormatException($"row group {rowGroup}, column '{field.Name}': its pages' data held {written} values where their definition levels define {defined}");
        }

        var next = 0;
        for (var i = 0; i < count; i++)
        {
            cells[i] = levels[i] == field.MaxDefinitionLevel ? convert(values[next++]) : null;
        }

        return cells;
    }
}
