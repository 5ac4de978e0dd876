namespace Maas.Core.Datasets;

/// <summary>The width and height pictures are resized to.</summary>
public sealed record DatasetImageSize(int Width, int Height)
{
    /// <summary>The largest side accepted.</summary>
    public const int MaxSide = 4096;

    /// <summary>Parses "64x48" (width x height) or "64" (square); throws <see cref="FormatException"/> with the rule when it is not one.</summary>
    public static DatasetImageSize Parse(string text)
    {
        var parts = text.Split('x', 'X');
        if (parts.Length is 1 or 2
            && int.TryParse(parts[0], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var width)
            && int.TryParse(parts[^1], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var height)
            && width is >= 1 and <= MaxSide && height is >= 1 and <= MaxSide)
        {
            return new DatasetImageSize(width, height);
        }

        throw new FormatException($"'{(text.Length > 20 ? text[..20] + "..." : text)}' is not a picture size: use WIDTHxHEIGHT or one number for a square, " +
            $"each from 1 to {MaxSide}");
    }

    /// <inheritdoc />
    public override string ToString() => $"{Width}x{Height}";
}
