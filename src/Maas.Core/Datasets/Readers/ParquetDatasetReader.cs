using System.Globalization;
using Maas.Core.Registry;
using Parquet;
using Parquet.Schema;

namespace Maas.Core.Datasets.Readers;

/// <summary>Reads a Parquet file's flat columns (numbers, booleans, text, dates) into a <see cref="DatasetTable"/>.</summary>
/// <remarks>Nested and repeated fields are refused by name: a training table has one value per cell.</remarks>
internal static class ParquetDatasetReader
{
    // trimNames: column names lose surrounding white space, as a CSV header's do (false only to read back a version
    // stored before they did).
    public static DatasetTable Read(Stream input, DecompressionBudget budget, int maxColumns, bool trimNames)
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
            return ReadAsync(ParquetPages.Guard(seekable, headers), budget, maxColumns, trimNames).GetAwaiter().GetResult();
        }
        catch (Exception e) when (e is ParquetException or Parquet.Meta.Proto.ThriftProtocolException or IOException or InvalidDataException or NotSupportedException
            or InvalidOperationException or ArgumentException or FormatException or OverflowException or IndexOutOfRangeException)
        {
            throw new DatasetFormatException($"the file is not a Parquet file this server reads ({e.Message})");
        }
    }

    private static async Task<DatasetTable> ReadAsync(Stream stream, DecompressionBudget budget, int maxColumns, bool trimNames)
    {
        var reader = await ParquetReader.CreateAsync(stream, null, leaveStreamOpen: true).ConfigureAwait(false);
        await using var readerScope = reader.ConfigureAwait(false);
        var fields = reader.Schema.GetDataFields();
        if (fields.Length == 0)
        {
            throw new DatasetFormatException("the Parquet file has no columns");
        }

        if (fields.Length > maxColumns)
        {
            throw new DatasetFormatException($"{fields.Length} columns, over the limit of {maxColumns} ({DatasetOptions.Section}:MaxColumns)");
        }

        var columns = new DatasetColumn[fields.Length];
        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (var c = 0; c < fields.Length; c++)
        {
            var field = fields[c];
            if (field.IsArray || field.Path.ToList().Count > 1)
            {
                throw new DatasetFormatException($"column '{field.Path}': nested or repeated fields are not supported; flatten the table to one value per cell");
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
                throw new DatasetFormatException($"column name '{RegistryNames.Shorten(name)}' appears twice{(trimNames ? " (names are trimmed of surrounding spaces, as CSV column names are)" : "")}");
            }

            columns[c] = new DatasetColumn(name, TypeOf(field));
        }

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

            for (var c = 0; c < fields.Length; c++)
            {
                var values = await ReadColumnAsync(group, fields[c], count, g).ConfigureAwait(false);
                for (var r = 0; r < count; r++)
                {
                    rows[start + r][c] = values[r];
                }
            }
        }

        return new DatasetTable(columns, rows);
    }

    private static DatasetColumnType TypeOf(DataField field)
    {
        var type = field.ClrType;
        if (type == typeof(bool))
        {
            return DatasetColumnType.Boolean;
        }

        if (IsText(type) || type == typeof(DateTime) || type == typeof(DateTimeOffset) || type == typeof(DateOnly) || type == typeof(TimeSpan) || type == typeof(TimeOnly) || type == typeof(Guid))
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

    private static async Task<object?[]> ReadColumnAsync(ParquetRowGroupReader group, DataField field, int count, int rowGroup)
    {
        var type = field.ClrType;
        if (IsText(type))
        {
            var strings = new string?[count];
            await group.ReadAsync(field, strings.AsMemory(), null).ConfigureAwait(false);
            return [.. strings];
        }

        return type switch
        {
            _ when type == typeof(bool) => await Nullable<bool>(group, field, count, v => v).ConfigureAwait(false),
            _ when type == typeof(double) => await Nullable<double>(group, field, count, v => Finite(v)).ConfigureAwait(false),
            _ when type == typeof(float) => await Nullable<float>(group, field, count, v => Finite(v)).ConfigureAwait(false),
            _ when type == typeof(Half) => await Nullable<Half>(group, field, count, v => Finite((double)v)).ConfigureAwait(false),
            _ when type == typeof(int) => await Nullable<int>(group, field, count, v => (double)v).ConfigureAwait(false),
            _ when type == typeof(long) => await Nullable<long>(group, field, count, v => (double)v).ConfigureAwait(false),
            _ when type == typeof(short) => await Nullable<short>(group, field, count, v => (double)v).ConfigureAwait(false),
            _ when type == typeof(sbyte) => await Nullable<sbyte>(group, field, count, v => (double)v).ConfigureAwait(false),
            _ when type == typeof(byte) => await Nullable<byte>(group, field, count, v => (double)v).ConfigureAwait(false),
            _ when type == typeof(ushort) => await Nullable<ushort>(group, field, count, v => (double)v).ConfigureAwait(false),
            _ when type == typeof(uint) => await Nullable<uint>(group, field, count, v => (double)v).ConfigureAwait(false),
            _ when type == typeof(ulong) => await Nullable<ulong>(group, field, count, v => (double)v).ConfigureAwait(false),
            _ when type == typeof(decimal) => await Nullable<decimal>(group, field, count, v => (double)v).ConfigureAwait(false),
            _ when type == typeof(DateTime) => await Nullable<DateTime>(group, field, count, v => v.ToString("O", CultureInfo.InvariantCulture)).ConfigureAwait(false),
            _ when type == typeof(DateTimeOffset) => await Nullable<DateTimeOffset>(group, field, count, v => v.ToString("O", CultureInfo.InvariantCulture)).ConfigureAwait(false),
            _ when type == typeof(DateOnly) => await Nullable<DateOnly>(group, field, count, v => v.ToString("O", CultureInfo.InvariantCulture)).ConfigureAwait(false),
            _ when type == typeof(TimeOnly) => await Nullable<TimeOnly>(group, field, count, v => v.ToString("O", CultureInfo.InvariantCulture)).ConfigureAwait(false),
            _ when type == typeof(TimeSpan) => await Nullable<TimeSpan>(group, field, count, v => v.ToString("c", CultureInfo.InvariantCulture)).ConfigureAwait(false),
            _ when type == typeof(Guid) => await Nullable<Guid>(group, field, count, v => v.ToString()).ConfigureAwait(false),
            _ => throw new DatasetFormatException($"row group {rowGroup}, column '{field.Name}': Parquet type {type.Name} is not supported"),
        };
    }

    private static object? Finite(double value) => double.IsFinite(value) ? value : null;

    private static async Task<object?[]> Nullable<T>(ParquetRowGroupReader group, DataField field, int count, Func<T, object?> convert)
        where T : struct
    {
        var values = new T?[count];
        await group.ReadAsync(field, values.AsMemory(), null).ConfigureAwait(false);
        var cells = new object?[count];
        for (var i = 0; i < count; i++)
        {
            cells[i] = values[i] is { } v ? convert(v) : null;
        }

        return cells;
    }
}
