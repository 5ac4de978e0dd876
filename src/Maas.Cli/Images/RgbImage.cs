using System.Globalization;
using System.Text;
using Maas.Cli.Hosting;

namespace Maas.Cli.Images;

/// <summary>An 8-bit RGB picture in memory, row-major, 3 bytes per pixel.</summary>
public sealed record RgbImage(int Width, int Height, byte[] Pixels)
{
    /// <summary>Reads a picture file: binary (P6) or text (P3) PPM, 8-bit.</summary>
    public static RgbImage Load(string path)
    {
        var bytes = File.ReadAllBytes(path);
        if (bytes.Length >= 2 && bytes[0] == 'P' && bytes[1] is (byte)'6' or (byte)'3')
        {
            return ReadPpm(bytes, path);
        }

        var kind = bytes.Length >= 4 && bytes[0] == 0x89 && bytes[1] == 'P' ? "PNG"
            : bytes.Length >= 2 && bytes[0] == 0xFF && bytes[1] == 0xD8 ? "JPEG"
            : "this format";
        throw new CliException("unsupported_image", $"{path}: {kind} is not read by this build; convert it to PPM (e.g. 'convert in.jpg out.ppm')", ExitCodes.Usage);
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
