using System.Buffers.Binary;
using System.IO.Compression;

namespace Maas.Testing;

/// <summary>Small generated MNIST-style IDX files for dataset tests.</summary>
public static class IdxFiles
{
    /// <summary>A zip with an idx3 file of the given pictures (each height×width bytes) and an idx1 file of their labels.</summary>
    public static byte[] Zip(byte[][] pictures, int[] labels, int height, int width)
    {
        var images = new byte[16 + (pictures.Length * height * width)];
        BinaryPrimitives.WriteInt32BigEndian(images, 0x803);
        BinaryPrimitives.WriteInt32BigEndian(images.AsSpan(4), pictures.Length);
        BinaryPrimitives.WriteInt32BigEndian(images.AsSpan(8), height);
        BinaryPrimitives.WriteInt32BigEndian(images.AsSpan(12), width);
        for (var i = 0; i < pictures.Length; i++)
        {
            pictures[i].CopyTo(images, 16 + (i * height * width));
        }

        var labelBytes = new byte[8 + labels.Length];
        BinaryPrimitives.WriteInt32BigEndian(labelBytes, 0x801);
        BinaryPrimitives.WriteInt32BigEndian(labelBytes.AsSpan(4), labels.Length);
        for (var i = 0; i < labels.Length; i++)
        {
            labelBytes[8 + i] = (byte)labels[i];
        }

        using var output = new MemoryStream();
        using (var zip = new ZipArchive(output, ZipArchiveMode.Create, leaveOpen: true))
        {
            using (var entry = zip.CreateEntry("images.idx3-ubyte").Open())
            {
                entry.Write(images);
            }

            using var labelEntry = zip.CreateEntry("labels.idx1-ubyte").Open();
            labelEntry.Write(labelBytes);
        }

        return output.ToArray();
    }

    /// <summary>A zip with an idx3 images file (pixel values 0, 1, 2, ...) and an idx1 labels file (0, 1, 2, ...).</summary>
    public static byte[] Zip(int count, int height, int width, bool gzipImages, int? labels = null)
    {
        var images = new byte[16 + (count * height * width)];
        BinaryPrimitives.WriteInt32BigEndian(images, 0x803);
        BinaryPrimitives.WriteInt32BigEndian(images.AsSpan(4), count);
        BinaryPrimitives.WriteInt32BigEndian(images.AsSpan(8), height);
        BinaryPrimitives.WriteInt32BigEndian(images.AsSpan(12), width);
        for (var i = 16; i < images.Length; i++)
        {
            images[i] = (byte)(i - 16);
        }

        var labelCount = labels ?? count;
        var labelBytes = new byte[8 + labelCount];
        BinaryPrimitives.WriteInt32BigEndian(labelBytes, 0x801);
        BinaryPrimitives.WriteInt32BigEndian(labelBytes.AsSpan(4), labelCount);
        for (var i = 0; i < labelCount; i++)
        {
            labelBytes[8 + i] = (byte)i;
        }

        using var output = new MemoryStream();
        using (var zip = new ZipArchive(output, ZipArchiveMode.Create, leaveOpen: true))
        {
            using (var entry = zip.CreateEntry(gzipImages ? "images.idx3-ubyte.gz" : "images.idx3-ubyte").Open())
            {
                if (gzipImages)
                {
                    using var gz = new GZipStream(entry, CompressionLevel.Fastest);
                    gz.Write(images);
                }
                else
                {
                    entry.Write(images);
                }
            }

            using var labelEntry = zip.CreateEntry("labels.idx1-ubyte").Open();
            labelEntry.Write(labelBytes);
        }

        return output.ToArray();
    }
}
