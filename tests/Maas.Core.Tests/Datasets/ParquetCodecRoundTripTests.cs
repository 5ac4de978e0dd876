using Maas.Core.Datasets;
using Maas.Testing;
using Parquet;
using Parquet.Schema;

namespace Maas.Core.Tests.Datasets;

/// <summary>
/// The real datasets (../shared/datasets) written as Parquet by Parquet.Net with every codec it writes, in several row
/// groups of optional columns (definition levels, dictionary pages for the repeated labels): each reads back as the CSV
/// does. The checks of every page's expanded size and of every column chunk's bounds refuse none of a real writer's pages.
/// </summary>
public sealed class ParquetCodecRoundTripTests
{
    private static readonly CompressionMethod[] Methods =
        [CompressionMethod.None, CompressionMethod.Snappy, CompressionMethod.Gzip, CompressionMethod.Brotli, CompressionMethod.LZ4, CompressionMethod.Zstd,
        CompressionMethod.Lz4Raw];

    [SharedDatasetFact("iris.csv")]
    public async Task Iris_written_with_every_codec_reads_back_as_the_csv()
    {
        await RoundTripAsync("iris.csv", rowsPerGroup: 40);
    }

    [SharedDatasetFact("digits.csv")]
    public async Task Digits_written_with_every_codec_reads_back_as_the_csv()
    {
        await RoundTripAsync("digits.csv", rowsPerGroup: 500);
    }

    private static async Task RoundTripAsync(string file, int rowsPerGroup)
    {
        using var csv = File.OpenRead(SharedDatasets.PathOf(file));
        var expected = DatasetParser.Parse(csv, DatasetFormat.Csv, gzip: false);
        foreach (var method in Methods)
        {
            var parquet = await WriteAsync(expected, method, rowsPerGroup);
            var table = DatasetParser.Parse(new MemoryStream(parquet), DatasetFormat.Parquet, gzip: false);
            Assert.Equal(expected.Columns, table.Columns);
            Assert.True(expected.Rows.Count == table.Rows.Count, $"{method}: {table.Rows.Count} rows");
            for (var r = 0; r < expected.Rows.Count; r++)
            {
                Assert.True(expected.Rows[r].SequenceEqual(table.Rows[r]), $"{method}: row {r + 1} differs");
            }
        }
    }

    private static async Task<byte[]> WriteAsync(DatasetTable table, CompressionMethod method, int rowsPerGroup)
    {
        var fields = table.Columns.Select(c => c.Type == DatasetColumnType.Number ? (DataField)new DataField<double?>(c.Name) : new DataField<string>(c.Name, true)).ToArray();
        using var output = new MemoryStream();
        await using (var writer = await ParquetWriter.CreateAsync(new ParquetSchema(fields), output, new ParquetOptions { CompressionMethod = method }))
        {
            foreach (var rows in table.Rows.Chunk(rowsPerGroup))
            {
                using var group = writer.CreateRowGroup();
                for (var c = 0; c < fields.Length; c++)
                {
                    if (fields[c].ClrType == typeof(double))
                    {
                        await group.WriteAsync<double>(fields[c], rows.Select(r => (double?)r[c]).ToArray().AsMemory());
                    }
                    else
                    {
                        await group.WriteAsync(fields[c], rows.Select(r => (string?)r[c]).ToArray());
                    }
                }
            }
        }

        return output.ToArray();
    }
}
