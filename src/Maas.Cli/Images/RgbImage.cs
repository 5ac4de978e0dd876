using System.Globalization;
using System.Text;
using Maas.Cli.Hosting;
using SkiaSharp;

namespace Maas.Cli.Images;

/// <summary>An 8-bit RGB picture in memory, row-major, 3 bytes per pixel.</summary>
public sealed record RgbImage(int Width, int Height, byte[] Pixels)
{
    /// <summary>Reads a picture file: PPM (P6 binary or P3 text, 8-bit) here, JPEG, PNG and the other common formats through SkiaSharp.</summary>
    public static RgbImage Load(string path)
    {
        var bytes = File.ReadAllBytes(path);
        if (bytes.Length >= 2 && bytes[0] == 'P' && bytes[1] is (byte)'6' or (byte)'3')
        {
            return ReadPpm(bytes, path);
        }

        return Decode(bytes, path);
    }

    // JPEG, PNG, WebP, BMP, GIF (first frame) through SkiaSharp's codecs.
    private static RgbImage Decode(byte[] bytes, string path)
    {
        using var data = SKData.CreateCopy(bytes);
        using var codec = SKCodec.Create(data)
            ?? throw new CliException("invalid_image", $"{path}: not a picture this build reads (PPM, JPEG, PNG, WebP, BMP, GIF)", ExitCodes.Usage);

        // The size is checked from the header, before any pixel is decoded.
        if ((long)codec.Info.Width * codec.Info.Height > 64L << 20)
        {
            throw new CliException("invalid_image", $"{path}: {codec.Info.Width}x{codec.Info.Height} is larger than 64 Mi pixels", ExitCodes.Usage);
        }

        using var bitmap = SKBitmap.Decode(codec)
            ?? throw new CliException("invalid_image", $"{path}: the picture could not be decoded", ExitCodes.Usage);

        var pixels = new byte[bitmap.Width * bitmap.Height * 3];
        for (var y = 0; y < bitmap.Height; y++)
        {
            for (var x = 0; x < bitmap.Width; x++)
            {
                var color = bitmap.GetPixel(x, y);
                var i = ((y * bitmap.Width) + x) * 3;
                pixels[i] = color.Red;
                pixels[i + 1] = color.Green;
                pixels[i + 2] = color.Blue;
            }
        }

        return new RgbImage(bitmap.Width, bitmap.Height, pixels);
    }

    private static RgbImage ReadPpm(byte[] bytes, string path)
    {
        var position = 2;
        string Token()
        {
            while (position < bytes.Length)
            {
                if (bytes[position] == '#')
                {
                    while (position < bytes.Length && bytes[position] != '\n')
                    {
                        position++;
                    }
                }
                else if (char.IsWhiteSpace((char)bytes[position]))
                {
                    position++;
                }
                else
                {
                    break;
                }
            }

            var start = position;
            while (position < bytes.Length && !char.IsWhiteSpace((char)bytes[position]))
            {
                position++;
            }

            return Encoding.ASCII.GetString(bytes, start, position - start);
        }

        int Number(string what, int least = 1)
        {
            var token = Token();
            return int.TryParse(token, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n >= least
                ? n
                : throw new CliException("invalid_image", $"{path}: the PPM {what} '{token}' is not a number of at least {least}", ExitCodes.Usage);
        }

        var binary = bytes[1] == '6';
        var width = Number("width");
        var height = Number("height");
        var max = Number("maximum value");
        if (max > 255)
        {
            throw new CliException("invalid_image", $"{path}: 16-bit PPM (maximum {max}) is not supported", ExitCodes.Usage);
        }

        if ((long)width * height > 64L << 20)
        {
            throw new CliException("invalid_image", $"{path}: {width}x{height} is larger than 64 Mi pixels", ExitCodes.Usage);
        }

        var pixels = new byte[width * height * 3];
        if (binary)
        {
            position++; // the one whitespace byte after the header
            if (bytes.Length - position < pixels.Length)
            {
                throw new CliException("invalid_image", $"{path}: the PPM is truncated ({bytes.Length - position} of {pixels.Length} pixel bytes)", ExitCodes.Usage);
            }

            bytes.AsSpan(position, pixels.Length).CopyTo(pixels);
        }
        else
        {
            for (var i = 0; i < pixels.Length; i++)
            {
                pixels[i] = (byte)Math.Min(max, Number("sample", least: 0));
            }
        }

        if (max != 255)
        {
            for (var i = 0; i < pixels.Length; i++)
            {
                pixels[i] = (byte)(pixels[i] * 255 / max);
            }
        }

        return new RgbImage(width, height, pixels);
    }

    /// <summary>The picture scaled to <paramref name="width"/> x <paramref name="height"/> (bilinear).</summary>
    public RgbImage Resize(int width, int height)
    {
        if (width == Width && height == Height)
        {
            return this;
        }

        var result = new byte[width * height * 3];
        var scaleX = (double)Width / width;
        var scaleY = (double)Height / height;
        for (var y = 0; y < height; y++)
        {
            var sy = Math.Clamp(((y + 0.5) * scaleY) - 0.5, 0, Height - 1);
            var y0 = (int)sy;
            var y1 = Math.Min(y0 + 1, Height - 1);
            var fy = sy - y0;
            for (var x = 0; x < width; x++)
            {
                var sx = Math.Clamp(((x + 0.5) * scaleX) - 0.5, 0, Width - 1);
                var x0 = (int)sx;
                var x1 = Math.Min(x0 + 1, Width - 1);
                var fx = sx - x0;
                for (var c = 0; c < 3; c++)
                {
                    var top = (Pixels[((y0 * Width) + x0) * 3 + c] * (1 - fx)) + (Pixels[((y0 * Width) + x1) * 3 + c] * fx);
                    var bottom = (Pixels[((y1 * Width) + x0) * 3 + c] * (1 - fx)) + (Pixels[((y1 * Width) + x1) * 3 + c] * fx);
                    result[((y * width) + x) * 3 + c] = (byte)Math.Round((top * (1 - fy)) + (bottom * fy));
                }
            }
        }

        return new RgbImage(width, height, result);
    }
}
