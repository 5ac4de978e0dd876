namespace Maas.Optimization.Onnx;

/// <summary>Turns the pictures of a dataset's image column into model inputs: resized, channels matched, normalised, laid out.</summary>
public static class CalibrationImages
{
    /// <summary>
    /// One picture (<paramref name="pixels"/>: 8-bit, height x width x <paramref name="pictureChannels"/>, row by row) as
    /// the values of the model's input at batch 1: resized bilinearly to the input's size, grey repeated into three
    /// channels or colour turned to grey (ITU-R 601 luma) as the input needs, normalised by <paramref name="preprocessing"/>.
    /// </summary>
    public static float[] ToInput(byte[] pixels, int height, int width, int pictureChannels, ImageInputLayout layout, ImagePreprocessing preprocessing)
    {
        if (pixels.Length != height * width * pictureChannels)
        {
            throw new ArgumentException($"{pixels.Length} bytes are not a {height}x{width}x{pictureChannels} picture", nameof(pixels));
        }

        var (outH, outW) = (layout.Height > 0 ? layout.Height : height, layout.Width > 0 ? layout.Width : width);
        var channels = layout.Channels;
        var values = new float[channels * outH * outW];
        var sample = new float[3];
        for (var y = 0; y < outH; y++)
        {
            // Pixel centres map onto pixel centres (as image libraries resize), clamped at the edges.
            var (y0, y1, fy) = Source(y, outH, height);
            for (var x = 0; x < outW; x++)
            {
                var (x0, x1, fx) = Source(x, outW, width);
                for (var c = 0; c < pictureChannels; c++)
                {
                    float At(int yy, int xx) => pixels[(((yy * width) + xx) * pictureChannels) + c];
                    var top = At(y0, x0) + ((At(y0, x1) - At(y0, x0)) * fx);
                    var bottom = At(y1, x0) + ((At(y1, x1) - At(y1, x0)) * fx);
                    sample[c] = top + ((bottom - top) * fy);
                }

                for (var c = 0; c < channels; c++)
                {
                    float v;
                    if (channels == pictureChannels)
                    {
                        v = sample[channels == 3 && preprocessing.Bgr ? 2 - c : c];
                    }
                    else if (pictureChannels == 1)
                    {
                        v = sample[0];
                    }
                    else
                    {
                        v = (0.299f * sample[0]) + (0.587f * sample[1]) + (0.114f * sample[2]);
                    }

                    var at = layout.ChannelsFirst ? (((c * outH) + y) * outW) + x : (((y * outW) + x) * channels) + c;
                    values[at] = (v - preprocessing.Mean[c]) / preprocessing.Std[c];
                }
            }
        }

        return values;
    }

    private static (int Low, int High, float Fraction) Source(int target, int targetSize, int sourceSize)
    {
        if (targetSize == sourceSize)
        {
            return (target, target, 0);
        }

        var position = Math.Clamp(((target + 0.5f) * sourceSize / targetSize) - 0.5f, 0, sourceSize - 1);
        var low = (int)position;
        return (low, Math.Min(low + 1, sourceSize - 1), position - low);
    }
}
