using Maas.Runtimes.Ggml;
using Maas.Runtimes.Onnx;

namespace Maas.Training;

/// <summary>Runs an exported image classifier on ONNX Runtime (the training job's check that it answers like ggml).</summary>
public static class ImageOnnx
{
    /// <summary>The logits ONNX Runtime computes for <paramref name="rows"/> of <paramref name="images"/> (each [channels, height, width] floats).</summary>
    public static float[] Logits(string path, float[] images, IReadOnlyList<int> rows, int[] shape)
    {
        var size = shape[0] * shape[1] * shape[2];
        var batch = new float[rows.Count * size];
        for (var i = 0; i < rows.Count; i++)
        {
            Array.Copy(images, (long)rows[i] * size, batch, (long)i * size, size);
        }

        using var session = TabularOnnx.Open(path);
        return Logits(session, batch, rows.Count, shape);
    }

    /// <summary>
    /// The logits <paramref name="session"/> computes for the first <paramref name="count"/> images of <paramref name="batch"/>
    /// (each [channels, height, width] floats; the buffer may be longer, so one buffer serves every batch).
    /// </summary>
    public static float[] Logits(OnnxSession session, float[] batch, int count, int[] shape, CancellationToken cancellationToken = default)
    {
        var size = shape[0] * shape[1] * shape[2];
        using var input = OnnxTensor.Create(batch.AsMemory(0, count * size), [count, shape[0], shape[1], shape[2]]);
        using var outputs = session.Run([new(NetworkOnnx.Input, input)], [NetworkOnnx.Logits], cancellationToken: cancellationToken);
        return outputs[0].GetData<float>().ToArray();
    }

    /// <summary>The largest difference between two sets of logits, and how many exceed 1e-4 (relative above 1).</summary>
    public static (double MaxDiff, int Mismatches) Compare(float[] expected, float[] actual)
    {
        if (expected.Length != actual.Length)
        {
            return (double.PositiveInfinity, Math.Max(expected.Length, actual.Length));
        }

        double max = 0;
        var mismatches = 0;
        for (var i = 0; i < expected.Length; i++)
        {
            var diff = Math.Abs((double)expected[i] - actual[i]);
            max = Math.Max(max, diff);
            mismatches += diff > 1e-4 * Math.Max(1, Math.Abs(expected[i])) ? 1 : 0;
        }

        return (max, mismatches);
    }
}
