using Maas.Core.Datasets;
using Maas.Core.Jobs;
using Maas.Core.Training;

namespace Maas.Training;

/// <summary>A dataset's image column as floats in [0, 1], [channels, height, width] per row, and each row's class index (-1 unlabelled).</summary>
internal sealed record ImageData(float[] Images, int[] Labels, NetworkShape Shape)
{
    /// <summary>Reads the image column named by the spec's one feature; grey [h, w] or colour [h, w, 3] (stored HWC, turned to CHW).</summary>
    public static ImageData From(TabularData data)
    {
        var table = data.Table;
        var name = data.Spec.Features.Count == 1 ? data.Spec.Features[0].Name
            : throw new JobFailedException("invalid_spec", "image-classification takes exactly one image column as its feature");
        var column = table.IndexOf(name);
        if (column < 0 || table.Columns[column].Type != DatasetColumnType.Image || table.Columns[column].Shape is not { } dims)
        {
            throw new JobFailedException("invalid_spec", $"the dataset has no image column '{name}'");
        }

        var (height, width, channels) = dims.Count switch
        {
            2 => (dims[0], dims[1], 1),
            3 when dims[2] is 1 or 3 => (dims[0], dims[1], dims[2]),
            _ => throw new JobFailedException("invalid_spec", $"image column '{name}' has shape [{string.Join(", ", dims)}]; networks take [height, width] or [height, width, 3]"),
        };
        var size = height * width * channels;
        var images = new float[(long)table.Rows.Count * size];
        var labels = new int[table.Rows.Count];
        for (var r = 0; r < table.Rows.Count; r++)
        {
            var row = table.Rows[r];
            labels[r] = row[data.LabelIndex] is { } label ? data.IndexOfClass(label) : -1;
            if (row[column] is not byte[] pixels || pixels.Length != size)
            {
                labels[r] = -1;
                continue;
            }

            ImagePixels.ToChannelsFirst(pixels, images, (long)r * size, height, width, channels);
        }

        return new ImageData(images, labels, new NetworkShape([channels, height, width]));
    }

    /// <summary>Cross-entropy and accuracy of class scores against the labels of <paramref name="rows"/>.</summary>
    public (double Loss, double Accuracy) Score(float[] logits, int[] rows, int classes)
    {
        double loss = 0;
        var right = 0;
        for (var i = 0; i < rows.Length; i++)
        {
            var p = Softmax(logits.AsSpan(i * classes, classes));
            var label = Labels[rows[i]];
            loss -= Math.Log(Math.Max(p[label], 1e-12));
            right += Array.IndexOf(p, p.Max()) == label ? 1 : 0;
        }

        return rows.Length == 0 ? (double.NaN, double.NaN) : (loss / rows.Length, (double)right / rows.Length);
    }

    /// <summary>The softmax of one row of scores.</summary>
    public static double[] Softmax(ReadOnlySpan<float> scores)
    {
        var max = double.NegativeInfinity;
        foreach (var s in scores)
        {
            max = Math.Max(max, s);
        }

        var result = new double[scores.Length];
        double sum = 0;
        for (var c = 0; c < scores.Length; c++)
        {
            result[c] = Math.Exp(scores[c] - max);
            sum += result[c];
        }

        for (var c = 0; c < scores.Length; c++)
        {
            result[c] /= sum;
        }

        return result;
    }
}
