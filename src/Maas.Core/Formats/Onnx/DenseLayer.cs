namespace Maas.Core.Formats.Onnx;

/// <summary>One fully connected layer: y = x · Weight + Bias, with Weight row-major [Inputs, Outputs].</summary>
public sealed record DenseLayer(int Inputs, int Outputs, float[] Weight, float[] Bias)
{
    /// <summary>A layer with weights drawn uniformly in ±1/sqrt(inputs) from <paramref name="random"/>.</summary>
    public static DenseLayer Random(int inputs, int outputs, Random random)
    {
        var scale = 1 / MathF.Sqrt(inputs);
        var weight = new float[inputs * outputs];
        var bias = new float[outputs];
        for (var i = 0; i < weight.Length; i++)
        {
            weight[i] = ((random.NextSingle() * 2) - 1) * scale;
        }

        for (var i = 0; i < bias.Length; i++)
        {
            bias[i] = ((random.NextSingle() * 2) - 1) * scale;
        }

        return new DenseLayer(inputs, outputs, weight, bias);
    }

    /// <summary>Seeded random layers of sizes inputs → hidden... → outputs.</summary>
    public static IReadOnlyList<DenseLayer> RandomStack(int inputs, int[] hidden, int outputs, int seed)
    {
        var random = new Random(seed);
        var sizes = new[] { inputs }.Concat(hidden).Append(outputs).ToArray();
        return Enumerable.Range(0, sizes.Length - 1).Select(i => Random(sizes[i], sizes[i + 1], random)).ToArray();
    }

    /// <summary>Applies the layer to <paramref name="batch"/> rows of <paramref name="input"/> (row-major), in plain C#.</summary>
    public float[] Apply(ReadOnlySpan<float> input, int batch, bool relu)
    {
        var output = new float[batch * Outputs];
        for (var b = 0; b < batch; b++)
        {
            for (var o = 0; o < Outputs; o++)
            {
                var sum = Bias[o];
                for (var i = 0; i < Inputs; i++)
                {
                    sum += input[(b * Inputs) + i] * Weight[(i * Outputs) + o];
                }

                output[(b * Outputs) + o] = relu ? MathF.Max(sum, 0) : sum;
            }
        }

        return output;
    }
}
