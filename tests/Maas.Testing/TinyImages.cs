namespace Maas.Testing;

/// <summary>
/// Generated greyscale pictures of three classes a small network tells apart easily: 0 horizontal stripes,
/// 1 vertical stripes, 2 dots, each with a random phase and noise.
/// </summary>
public static class TinyImages
{
    /// <summary>The class names, by label.</summary>
    public static IReadOnlyList<string> Classes { get; } = ["hstripes", "vstripes", "dots"];

    /// <summary><paramref name="count"/> pictures of <paramref name="size"/>×<paramref name="size"/> bytes (row-major) and their labels, from <paramref name="seed"/>.</summary>
    public static (byte[][] Images, int[] Labels) Generate(int count, int size, int seed)
    {
        var random = new Random(seed);
        var images = new byte[count][];
        var labels = new int[count];
        for (var n = 0; n < count; n++)
        {
            var label = n % 3;
            var phase = random.Next(3);
            var image = new byte[size * size];
            for (var y = 0; y < size; y++)
            {
                for (var x = 0; x < size; x++)
                {
                    var on = label switch
                    {
                        0 => (y + phase) % 3 == 0,
                        1 => (x + phase) % 3 == 0,
                        _ => (x + phase) % 3 == 0 && (y + phase) % 3 == 0,
                    };
                    image[(y * size) + x] = (byte)Math.Clamp((on ? 200 : 30) + random.Next(-30, 31), 0, 255);
                }
            }

            images[n] = image;
            labels[n] = label;
        }

        return (images, labels);
    }

    /// <summary>The pictures as floats in [0, 1], one after another (the layout trainers take).</summary>
    public static float[] Floats(byte[][] images) => images.SelectMany(i => i).Select(b => b / 255f).ToArray();
}
