using Maas.Core.Registry;

namespace Maas.Optimization.Onnx;

/// <summary>
/// An image model's input: channels first (<c>[N, C, H, W]</c>) or last (<c>[N, H, W, C]</c>), 1 or 3 channels, and its
/// height and width (0 where the model leaves them open: the picture's own size is used).
/// </summary>
public sealed record ImageInputLayout(bool ChannelsFirst, int Channels, int Height, int Width)
{
    /// <summary>The layout of <paramref name="input"/>, or null when it is not a float image input of batch 1 or open batch.</summary>
    public static ImageInputLayout? Of(TensorSignature input)
    {
        var s = input.Shape;
        if (input.Datatype != "FP32" || s.Count != 4 || s[0] is not (-1 or 1))
        {
            return null;
        }

        static int Size(long d) => d > 0 ? (int)d : 0;
        return s[1] is 1 or 3 ? new ImageInputLayout(true, (int)s[1], Size(s[2]), Size(s[3]))
            : s[3] is 1 or 3 ? new ImageInputLayout(false, (int)s[3], Size(s[1]), Size(s[2]))
            : null;
    }

    /// <summary>The shape of one input at batch 1 for a picture of <paramref name="height"/> x <paramref name="width"/> (used where the model's size is open).</summary>
    public long[] Shape(int height, int width)
    {
        var (h, w) = (Height > 0 ? Height : height, Width > 0 ? Width : width);
        return ChannelsFirst ? [1, Channels, h, w] : [1, h, w, Channels];
    }
}
