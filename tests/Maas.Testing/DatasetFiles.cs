using System.IO.Compression;
using Parquet;
using Parquet.Schema;
using SkiaSharp;

namespace Maas.Testing;

/// <summary>Small generated dataset files for tests: pictures, zips of them, Parquet tables.</summary>
public static class DatasetFiles
{
    /// <summary>A PNG of one colour.</summary>
    public static byte[] Png(int width, int height, SKColor color)
    {
        using var bitmap = new SKBitmap(width, height);
        bitmap.Erase(color);
        using var image = SKImage.FromBitmap(bitmap);
        using var data = image.Encode(SKEncodedImageFormat.Png, 100);
        return data.ToArray();
    }

    /// <summary>A zip of the named entries.</summary>
    public static byte[] Zip(params (string Name, byte[] Data)[] entries)
    {
        using var buffer = new MemoryStream();
        using (var archive = new ZipArchive(buffer, ZipArchiveMode.Create, leaveOpen: true))
        {
            foreach (var (name, data) in entries)
            {
                using var stream = archive.CreateEntry(name).Open();
                stream.Write(data);
            }
        }

        return buffer.ToArray();
    }

    /// <summary>A Parquet file of two int columns named as given (names kept as written, blank or repeated too), two rows.</summary>
    public static async Task<byte[]> TwoColumnParquetAsync(string first, string second)
    {
        var one = new DataField<int>(first);
        var two = new DataField<int>(second);
        using var file = new MemoryStream();
        await using (var writer = await ParquetWriter.CreateAsync(new ParquetSchema(one, two), file))
        {
            using var group = writer.CreateRowGroup();
            await group.WriteAsync<int>(one, new[] { 1, 2 }.AsMemory());
            await group.WriteAsync<int>(two, new[] { 3, 4 }.AsMemory());
        }

        return file.ToArray();
    }

    /// <summary>A Parquet file of nullable text columns named as given; the rows go into row groups of <paramref name="rowsPerGroup"/>.</summary>
    public static async Task<byte[]> TextParquetAsync(string[] columns, int rowsPerGroup, params string?[][] rows)
    {
        var fields = columns.Select(c => new DataField<string>(c, true)).ToArray();
        using var output = new MemoryStream();
        await using (var writer = await ParquetWriter.CreateAsync(new ParquetSchema(fields), output))
        {
            foreach (var chunk in rows.Chunk(rowsPerGroup))
            {
                using var group = writer.CreateRowGroup();
                for (var c = 0; c < fields.Length; c++)
                {
                    await group.WriteAsync(fields[c], chunk.Select(r => r[c]).ToArray());
                }
            }
        }

        return output.ToArray();
    }

    /// <summary>A Parquet file with columns id (int), name (text, nullable), flag (bool, nullable), score (double, nullable); one row group per array.</summary>
    public static async Task<byte[]> ParquetAsync(params (int Id, string? Name, bool? Flag, double? Score)[][] groups)
    {
        var id = new DataField<int>("id");
        var name = new DataField<string>("name", true);
        var flag = new DataField<bool?>("flag");
        var score = new DataField<double?>("score");
        using var output = new MemoryStream();
        await using (var writer = await ParquetWriter.CreateAsync(new ParquetSchema(id, name, flag, score), output))
        {
            foreach (var rows in groups)
            {
                using var group = writer.CreateRowGroup();
                await group.WriteAsync<int>(id, rows.Select(r => r.Id).ToArray().AsMemory());
                await group.WriteAsync(name, rows.Select(r => r.Name).ToArray());
                await group.WriteAsync<bool>(flag, rows.Select(r => r.Flag).ToArray().AsMemory());
                await group.WriteAsync<double>(score, rows.Select(r => r.Score).ToArray().AsMemory());
            }
        }

        return output.ToArray();
    }
}
