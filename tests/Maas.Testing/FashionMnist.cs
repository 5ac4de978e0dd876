using System.Buffers.Binary;
using System.IO.Compression;

namespace Maas.Testing;

/// <summary>Debian's Fashion-MNIST (package dataset-fashion-mnist: gzipped IDX files of 28×28 pictures in 10 classes).</summary>
public static class FashionMnist
{
    /// <summary>Where the package puts the files.</summary>
    public const string Directory = "/usr/share/datasets/fashion-mnist";

    /// <summary>True when the package is installed.</summary>
    public static bool Present => File.Exists(Path.Combine(Directory, "train-images-idx3-ubyte.gz")) && File.Exists(Path.Combine(Directory, "train-labels-idx1-ubyte.gz"));

    /// <summary>The first <paramref name="count"/> pictures (28×28 bytes each) and labels of the "train" or "t10k" set.</summary>
    public static (byte[][] Images, int[] Labels) Read(string set, int count)
    {
        var images = Unzip(Path.Combine(Directory, $"{set}-images-idx3-ubyte.gz"));
        var labels = Unzip(Path.Combine(Directory, $"{set}-labels-idx1-ubyte.gz"));
        count = Math.Min(count, BinaryPrimitives.ReadInt32BigEndian(images.AsSpan(4)));
        var pictures = new byte[count][];
        for (var i = 0; i < count; i++)
        {
            pictures[i] = images.AsSpan(16 + (i * 784), 784).ToArray();
        }

        return (pictures, labels.AsSpan(8, count).ToArray().Select(b => (int)b).ToArray());
    }

    private static byte[] Unzip(string path)
    {
        using var input = new GZipStream(File.OpenRead(path), CompressionMode.Decompress);
        using var output = new MemoryStream();
        input.CopyTo(output);
        return output.ToArray();
    }
}

/// <summary>A test that needs Debian's Fashion-MNIST; skipped with the reason where the package is absent.</summary>
public sealed class FashionMnistFactAttribute : Xunit.FactAttribute
{
    /// <summary>Marks a test that reads <see cref="FashionMnist.Directory"/>.</summary>
    public FashionMnistFactAttribute()
    {
        if (!FashionMnist.Present)
        {
            Skip = $"needs Debian's dataset-fashion-mnist ({FashionMnist.Directory}); .ci/run installs it";
        }
    }
}
