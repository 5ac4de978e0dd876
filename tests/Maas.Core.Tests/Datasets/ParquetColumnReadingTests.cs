using System.Buffers;
using System.Globalization;
using Maas.Core.Datasets;
using Parquet;
using Parquet.Schema;

namespace Maas.Core.Tests.Datasets;

/// <summary>
/// Required and optional Parquet columns of each type, over several row groups, with values after nulls. A required
/// column was read through Parquet.Net's nullable overload, whose definition levels come from the process's shared pool
/// of int arrays and are never written for a column without them: a negative number left there by an earlier user of
/// the pool made that row's value null and moved every later value of the column up a row.
/// </summary>
public sealed class ParquetColumnReadingTests
{
    // Rows 0..8 in row groups of 3, 1 and 5; an optional column is null on rows 0, 3 and 6.
    private static readonly int[][] Groups = [[0, 1, 2], [3], [4, 5, 6, 7, 8]];

    private static bool IsNull(int row) => row % 3 == 0;

    private static readonly DateTime Epoch = new(2026, 1, 2, 3, 4, 5, DateTimeKind.Utc);

    // A DateTime field is written as INT96, which is UTC by convention: its text ends in Z.
    private static string Time(DateTime value) => DateTime.SpecifyKind(value, DateTimeKind.Utc).ToString("O", CultureInfo.InvariantCulture);

    private static Column[] Columns() =>
    [
        Required("req_int", r => r * 10, v => (double)v),
        Optional<int>("opt_int", r => IsNull(r) ? null : -r, v => (double)v),
        Required("req_long", r => (long)r << 40, v => (double)v),
        Optional<long>("opt_long", r => IsNull(r) ? null : r + 1L, v => (double)v),
        Required("req_double", r => r + 0.5, v => v),
        Optional<double>("opt_double", r => IsNull(r) ? null : r * 0.25, v => v),
        Required("req_bool", r => r % 2 == 0, v => v),
        Optional<bool>("opt_bool", r => IsNull(r) ? null : r % 2 == 1, v => v),
        Required("req_date", r => Epoch.AddDays(r), Time),
        Optional<DateTime>("opt_date", r => IsNull(r) ? null : Epoch.AddHours(r), Time),
        Text("req_text", nullable: false, r => $"t{r}"),
        Text("opt_text", nullable: true, r => IsNull(r) ? null : $"o{r}"),
    ];

    [Fact]
    public async Task Required_and_optional_columns_of_each_type_read_back_exactly_when_the_shared_pool_holds_negative_numbers()
    {
        var columns = Columns();
        var file = await WriteAsync(columns);

        LeaveNegativeNumbersInTheSharedIntPool();
        var table = DatasetParser.Parse(new MemoryStream(file), DatasetFormat.Parquet, gzip: false);

        Assert.Equal(columns.Select(c => c.Field.Name), table.Columns.Select(c => c.Name));
        Assert.Equal(9, table.Rows.Count);
        for (var r = 0; r < table.Rows.Count; r++)
        {
            Assert.Equal(columns.Select(c => c.Expected(r)), table.Rows[r]);
        }
    }

    [Fact]
    public async Task A_required_column_reads_the_same_on_many_threads_at_once()
    {
        var columns = Columns();
        var file = await WriteAsync(columns);
        var expected = Enumerable.Range(0, 9).Select(r => columns.Select(c => c.Expected(r)).ToArray()).ToArray();

        // Each read rents and returns pooled arrays while the others do, as uploads and previews of a server do.
        await Parallel.ForAsync(0, 200, new ParallelOptions { MaxDegreeOfParallelism = 8 }, (_, _) =>
        {
            LeaveNegativeNumbersInTheSharedIntPool();
            var table = DatasetParser.Parse(new MemoryStream(file), DatasetFormat.Parquet, gzip: false);
            Assert.Equal(expected, table.Rows);
            return ValueTask.CompletedTask;
        });
    }

    // As any earlier renter of ArrayPool<int>.Shared may leave it: arrays of the sizes a small column rents, full of -1.
    private static void LeaveNegativeNumbersInTheSharedIntPool()
    {
        foreach (var size in new[] { 16, 32, 64 })
        {
            var arrays = Enumerable.Range(0, 64).Select(_ => ArrayPool<int>.Shared.Rent(size)).ToList();
            foreach (var array in arrays)
            {
                Array.Fill(array, -1);
                ArrayPool<int>.Shared.Return(array);
            }
        }
    }

    // One column of the test file: its field, how the rows of a group are written, and what each row reads back as.
    private sealed record Column(DataField Field, Func<ParquetRowGroupWriter, int[], Task> WriteAsync, Func<int, object?> Expected);

    private static Column Required<T>(string name, Func<int, T> value, Func<T, object?> expected)
        where T : struct
    {
        var field = new DataField<T>(name);
        Assert.False(field.IsNullable);
        return new Column(field, async (group, rows) => await group.WriteAsync<T>(field, rows.Select(value).ToArray().AsMemory()), r => expected(value(r)));
    }

    private static Column Optional<T>(string name, Func<int, T?> value, Func<T, object?> expected)
        where T : struct
    {
        var field = new DataField<T?>(name);
        Assert.True(field.IsNullable);
        return new Column(field, async (group, rows) => await group.WriteAsync<T>(field, rows.Select(value).ToArray().AsMemory()), r => value(r) is { } v ? expected(v) : null);
    }

    private static Column Text(string name, bool nullable, Func<int, string?> value)
    {
        var field = new DataField<string>(name, nullable);
        Assert.Equal(nullable, field.IsNullable);
        return new Column(field, async (group, rows) => await group.WriteAsync(field, rows.Select(value).ToArray()), r => value(r));
    }

    private static async Task<byte[]> WriteAsync(Column[] columns)
    {
        using var output = new MemoryStream();
        await using (var writer = await ParquetWriter.CreateAsync(new ParquetSchema(columns.Select(c => (Field)c.Field).ToArray()), output))
        {
            foreach (var rows in Groups)
            {
                using var group = writer.CreateRowGroup();
                foreach (var column in columns)
                {
                    await column.WriteAsync(group, rows);
                }
            }
        }

        return output.ToArray();
    }
}
