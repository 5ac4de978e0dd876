using Maas.Core.Formats.Onnx;
using SkiaSharp;

namespace Maas.Testing;

/// <summary>A small generated convolutional classifier and pictures to feed it, for tests of image models.</summary>
public static class ConvModels
{
    /// <summary>
    /// A classifier of "input" float [batch, 3, <paramref name="size"/>, <paramref name="size"/>]: Conv 3→8 (3x3, pad 1),
    /// Relu, Conv 8→16 (3x3, stride 2), Relu, GlobalAveragePool, Flatten, Gemm 16→<paramref name="classes"/>, Softmax
    /// into "output"; seeded random weights.
    /// </summary>
    public static OnnxModelWriter Classifier(int size = 16, int classes = 4, int seed = 1)
    {
        var random = new Random(seed);
        float[] Weights(int count, int fanIn) => Enumerable.Range(0, count).Select(_ => ((random.NextSingle() * 2) - 1) * 2 / MathF.Sqrt(fanIn)).ToArray();
        var batch = OnnxDimension.Symbolic("batch");
        return new OnnxModelWriter("convnet")
            .Input("input", OnnxElementType.Float, batch, OnnxDimension.Fixed(3), OnnxDimension.Fixed(size), OnnxDimension.Fixed(size))
            .Output("output", OnnxElementType.Float, batch, OnnxDimension.Fixed(classes))
            .Initializer("conv0.weight", Weights(8 * 3 * 9, 27), [8, 3, 3, 3])
            .Initializer("conv0.bias", Weights(8, 27), [8])
            .Initializer("conv1.weight", Weights(16 * 8 * 9, 72), [16, 8, 3, 3])
            .Initializer("conv1.bias", Weights(16, 72), [16])
            .Initializer("fc.weight", Weights(classes * 16, 16), [classes, 16])
            .Initializer("fc.bias", Weights(classes, 16), [classes])
            .Node("Conv", ["input", "conv0.weight", "conv0.bias"], ["conv0.out"], OnnxAttribute.Ints("pads", 1, 1, 1, 1), OnnxAttribute.Ints("kernel_shape", 3, 3))
            .Node("Relu", ["conv0.out"], ["conv0.relu"])
            .Node("Conv", ["conv0.relu", "conv1.weight", "conv1.bias"], ["conv1.out"], OnnxAttribute.Ints("strides", 2, 2), OnnxAttribute.Ints("kernel_shape", 3, 3))
            .Node("Relu", ["conv1.out"], ["conv1.relu"])
            .Node("GlobalAveragePool", ["conv1.relu"], ["pool"])
            .Node("Flatten", ["pool"], ["flat"])
            .Node("Gemm", ["flat", "fc.weight", "fc.bias"], ["logits"], OnnxAttribute.Int("transB", 1))
            .Node("Softmax", ["logits"], ["output"], OnnxAttribute.Int("axis", -1));
    }

    /// <summary><paramref name="count"/> colour PNGs of <paramref name="width"/>x<paramref name="height"/>: seeded gradients, stripes and noise.</summary>
    public static IReadOnlyList<byte[]> Pictures(int count, int width, int height, int seed)
    {
        var random = new Random(seed);
        var pictures = new List<byte[]>();
        for (var n = 0; n < count; n++)
        {
            using var bitmap = new SKBitmap(width, height, SKColorType.Rgba8888, SKAlphaType.Opaque);
            var (period, tint) = (2 + random.Next(5), random.Next(3));
            for (var y = 0; y < height; y++)
            {
                for (var x = 0; x < width; x++)
                {
                    var stripe = (x + y) / period % 2 == 0 ? 60 : 0;
                    byte Channel(int c) => (byte)Math.Clamp((c == tint ? 120 : 40) + stripe + (x * 80 / width) + random.Next(-25, 26), 0, 255);
                    bitmap.SetPixel(x, y, new SKColor(Channel(0), Channel(1), Channel(2)));
                }
            }

            using var image = SKImage.FromBitmap(bitmap);
            using var data = image.Encode(SKEncodedImageFormat.Png, 100);
            pictures.Add(data.ToArray());
        }

        return pictures;
    }

    /// <summary>
    /// Conv 16→32 and 32→32 (3x3, pad 1), Relu after each, GlobalAveragePool and Flatten on "input" float
    /// [batch, 16, 8, 8] into "output" [batch, 32]: channel counts that ONNX Runtime's NCHWc blocks of 8 (AVX2) and 16
    /// (AVX-512) both divide, so its layout optimisation has something to rewrite.
    /// </summary>
    public static OnnxModelWriter BlockedConvNet(int seed = 7)
    {
        var random = new Random(seed);
        float[] Weights(int count) => Enumerable.Range(0, count).Select(_ => ((random.NextSingle() * 2) - 1) * 0.1f).ToArray();
        var batch = OnnxDimension.Symbolic("batch");
        return new OnnxModelWriter("blocked")
            .Input("input", OnnxElementType.Float, batch, OnnxDimension.Fixed(16), OnnxDimension.Fixed(8), OnnxDimension.Fixed(8))
            .Output("output", OnnxElementType.Float, batch, OnnxDimension.Fixed(32))
            .Initializer("conv0.weight", Weights(32 * 16 * 9), [32, 16, 3, 3])
            .Initializer("conv0.bias", Weights(32), [32])
            .Initializer("conv1.weight", Weights(32 * 32 * 9), [32, 32, 3, 3])
            .Initializer("conv1.bias", Weights(32), [32])
            .Node("Conv", ["input", "conv0.weight", "conv0.bias"], ["conv0.out"], OnnxAttribute.Ints("pads", 1, 1, 1, 1), OnnxAttribute.Ints("kernel_shape", 3, 3))
            .Node("Relu", ["conv0.out"], ["conv0.relu"])
            .Node("Conv", ["conv0.relu", "conv1.weight", "conv1.bias"], ["conv1.out"], OnnxAttribute.Ints("pads", 1, 1, 1, 1), OnnxAttribute.Ints("kernel_shape", 3, 3))
            .Node("Relu", ["conv1.out"], ["conv1.relu"])
            .Node("GlobalAveragePool", ["conv1.relu"], ["pool"])
            .Node("Flatten", ["pool"], ["output"]);
    }
}
