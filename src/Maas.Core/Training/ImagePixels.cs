namespace Maas.Core.Training;

/// <summary>How a stored image's bytes become a network's input: channels first, each byte scaled to 0..1.</summary>
public static class ImagePixels
{
    /// <summary>
    /// Writes the <paramref name="height"/> x <paramref name="width"/> x <paramref name="channels"/> bytes of
    /// <paramref name="pixels"/> (row by row, channels interleaved, as datasets store them) into
    /// <paramref name="destination"/> at <paramref name="offset"/> as channel planes, each byte divided by 255.
    /// </summary>
    public static void ToChannelsFirst(ReadOnlySpan<byte> pixels, float[] destination, long offset, int height, int width, int channels)
    {
        for (var y = 0; y < height; y++)
        {
            for (var x = 0; x < width; x++)
            {
                for (var c = 0; c < channels; c++)
                {
                    destination[offset + ((long)c * height * width) + (y * width) + x] = pixels[(((y * width) + x) * channels) + c] / 255f;
                }
            }
        }
    }
}
