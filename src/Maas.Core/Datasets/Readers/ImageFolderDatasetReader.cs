using SkiaSharp;

namespace Maas.Core.Datasets.Readers;

/// <summary>
/// Reads an archive of pictures kept in one folder per class (<c>cat/1.png</c>, <c>dog/7.jpg</c>, optionally under one
/// top folder) into two columns: <c>image</c> (bytes, [height, width] for grey pictures or [height, width, 3] for colour)
/// and <c>label</c> (the folder's name).
/// </summary>
internal static class ImageFolderDatasetReader
{
    /// <summary>The most pixels one picture may have before it is decoded.</summary>
    public const long MaxPixels = 1L << 24;

    private static readonly string[] PictureExtensions = [".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp"];

    /// <summary>True when the archive's entries look like pictures in class folders.</summary>
    public static bool Looks(IReadOnlyList<(string Name, byte[] Data)> entries) =>
        entries.Any(e => IsPicture(e.Name) && e.Name.Contains('/', StringComparison.Ordinal));

    public static DatasetTable Read(IReadOnlyList<(string Name, byte[] Data)> entries, DatasetImageSize? size, DecompressionBudget budget)
    {
        var pictures = entries.Where(e => !IsIgnored(e.Name)).ToList();
        var misplaced = pictures.FirstOrDefault(e => !IsPicture(e.Name));
        if (misplaced.Name is not null)
        {
            throw new DatasetFormatException($"entry '{misplaced.Name}': not a picture (expected {string.Join(", ", PictureExtensions)} files in one folder per class)");
        }

        // One common top folder ("data/cat/1.png") is a wrapper, not a class.
        var top = CommonTopFolder(pictures.Select(p => p.Name));
        var decoded = new List<(byte[] Rgb, int Width, int Height, bool Grey, string Label, string Entry)>(pictures.Count);
        foreach (var (name, data) in pictures)
        {
            var path = top is null ? name : name[(top.Length + 1)..];
            var parts = path.Split('/');
            if (parts.Length != 2)
            {
                throw new DatasetFormatException($"entry '{name}': pictures belong in exactly one folder per class (class/picture.png)");
            }

            var (rgb, width, height, grey) = Decode(name, data, size, budget);
            decoded.Add((rgb, width, height, grey, parts[0], name));
        }

        if (decoded.Count == 0)
        {
            throw new DatasetFormatException("the archive has no pictures");
        }

        var first = decoded[0];
        var odd = decoded.FirstOrDefault(d => d.Width != first.Width || d.Height != first.Height);
        if (odd.Entry is not null)
        {
            throw new DatasetFormatException(
                $"entry '{odd.Entry}' is {odd.Width}x{odd.Height} where '{first.Entry}' is {first.Width}x{first.Height}; give image_size (e.g. " +
                $"?image_size={first.Width}x{first.Height}) to resize every picture to one size");
        }

        var allGrey = decoded.All(d => d.Grey);
        var pixels = first.Width * first.Height;
        var rows = new List<object?[]>(decoded.Count);
        foreach (var d in decoded)
        {
            byte[] cell;
            if (allGrey)
            {
                cell = new byte[pixels];
                for (var i = 0; i < pixels; i++)
                {
                    cell[i] = d.Rgb[i * 3];
                }
            }
            else
            {
                cell = d.Rgb;
            }

            rows.Add([cell, d.Label]);
        }

        int[] shape = allGrey ? [first.Height, first.Width] : [first.Height, first.Width, 3];
        return new DatasetTable(
            [new DatasetColumn("image", DatasetColumnType.Image, shape), new DatasetColumn("label", DatasetColumnType.String)],
            rows);
    }

    private static (byte[] Rgb, int Width, int Height, bool Grey) Decode(string name, byte[] data, DatasetImageSize? size, DecompressionBudget budget)
    {
        using var skData = SKData.CreateCopy(data);
        using var codec = SKCodec.Create(skData)
            ?? throw new DatasetFormatException($"entry '{name}': not a picture this server decodes (PNG, JPEG, BMP, GIF, WebP)");
        var info = codec.Info;

        // The size comes from the header, checked before any pixel is decoded.
        if (info.Width <= 0 || info.Height <= 0 || (long)info.Width * info.Height > MaxPixels)
        {
            throw new DatasetFormatException($"entry '{name}': {info.Width}x{info.Height} pixels, over the limit of {MaxPixels} pixels per picture");
        }

        var width = size?.Width ?? info.Width;
        var height = size?.Height ?? info.Height;
        budget.Spend(((long)info.Width * info.Height * 4) + ((long)width * height * 3));
        using var bitmap = new SKBitmap(new SKImageInfo(info.Width, info.Height, SKColorType.Rgba8888, SKAlphaType.Unpremul));
        var result = codec.GetPixels(bitmap.Info, bitmap.GetPixels());
        if (result is not (SKCodecResult.Success or SKCodecResult.IncompleteInput))
        {
            throw new DatasetFormatException($"entry '{name}': the picture cannot be decoded ({result})");
        }

        using var scaled = width == info.Width && height == info.Height
            ? null
            : bitmap.Resize(new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Unpremul), new SKSamplingOptions(SKFilterMode.Linear, SKMipmapMode.None));
        var source = scaled ?? bitmap;
        var rgba = source.GetPixelSpan();
        var rgb = new byte[width * height * 3];
        var grey = true;
        for (var i = 0; i < width * height; i++)
        {
            var (r, g, b) = (rgba[i * 4], rgba[(i * 4) + 1], rgba[(i * 4) + 2]);
            rgb[i * 3] = r;
            rgb[(i * 3) + 1] = g;
            rgb[(i * 3) + 2] = b;
            grey &= r == g && g == b;
        }

        return (rgb, width, height, grey);
    }

    private static string? CommonTopFolder(IEnumerable<string> names)
    {
        string? top = null;
        foreach (var name in names)
        {
            var parts = name.Split('/');
            if (parts.Length < 3)
            {
                return null;
            }

            if (top is null)
            {
                top = parts[0];
            }
            else if (!string.Equals(top, parts[0], StringComparison.Ordinal))
            {
                return null;
            }
        }

        return top;
    }

    private static bool IsPicture(string name) => PictureExtensions.Contains(Path.GetExtension(name).ToLowerInvariant());

    // Archivers add these next to the pictures; they are not data.
    private static bool IsIgnored(string name) =>
        name.StartsWith("__MACOSX/", StringComparison.Ordinal) || name.Split('/').Any(p => p.StartsWith('.')) || name.EndsWith('/');
}
