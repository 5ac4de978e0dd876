using Maas.Core.Formats.Onnx;

namespace Maas.Runtimes.Ggml;

/// <summary>
/// Writes a trained <see cref="GgmlNetwork"/> as ONNX with the project's own writer: input "image" float
/// [N, channels, height, width] (pixels scaled to 0..1), outputs "logits" [N, classes] and "probabilities" (their
/// softmax). Each layer becomes the ONNX operators that compute what ggml computed; dropout is left out (it only acts
/// while training).
/// </summary>
public static class NetworkOnnx
{
    /// <summary>The input's name.</summary>
    public const string Input = "image";

    /// <summary>The class scores' output name.</summary>
    public const string Logits = "logits";

    /// <summary>The class probabilities' output name.</summary>
    public const string Probabilities = "probabilities";

    private const float GeluScale = 1.5957691216057308f;
    private const float GeluCubic = 0.044715f;

    /// <summary>The ONNX model of <paramref name="network"/> with <paramref name="weights"/>.</summary>
    public static OnnxModelWriter Export(GgmlNetwork network, GgmlWeights weights)
    {
        var c = network.Input.Dims;
        var writer = new OnnxModelWriter("maas_image_classifier")
            .Producer("maas-ggml")
            .Input(Input, OnnxElementType.Float, OnnxDimension.Symbolic("N"), c[0], c[1], c[2])
            .Output(Logits, OnnxElementType.Float, OnnxDimension.Symbolic("N"), network.Classes)
            .Output(Probabilities, OnnxElementType.Float, OnnxDimension.Symbolic("N"), network.Classes);
        var current = Input;
        var last = network.Layers.Count - 1;
        while (network.Layers[last].Type is "softmax" or "dropout")
        {
            last--;
        }

        for (var i = 0; i <= last; i++)
        {
            var layer = network.Layers[i];
            var before = i == 0 ? network.Input : network.Shapes[i - 1];
            var output = i == last ? Logits : $"l{i}.out";
            weights.Layers.TryGetValue(i, out var values);
            switch (layer.Type)
            {
                case "dense":
                    writer.Initializer($"l{i}.weight", values![0], [layer.Units!.Value, before.Size])
                        .Initializer($"l{i}.bias", values[1], [layer.Units!.Value])
                        .Node("Gemm", [current, $"l{i}.weight", $"l{i}.bias"], [output], OnnxAttribute.Int("transB", 1));
                    break;
                case "conv2d":
                    {
                        long k = layer.Kernel!.Value, s = layer.Stride!.Value, p = layer.Padding!.Value;
                        writer.Initializer($"l{i}.weight", values![0], [layer.Filters!.Value, before.Dims[0], k, k])
                            .Initializer($"l{i}.bias", values[1], [layer.Filters!.Value])
                            .Node("Conv", [current, $"l{i}.weight", $"l{i}.bias"], [output], OnnxAttribute.Ints("kernel_shape", k, k), OnnxAttribute.Ints("strides", s, s),
                                OnnxAttribute.Ints("pads", p, p, p, p));
                        break;
                    }

                case "max_pool" or "avg_pool":
                    {
                        long k = layer.Kernel!.Value, s = layer.Stride!.Value;
                        writer.Node(layer.Type == "max_pool" ? "MaxPool" : "AveragePool", [current], [output], OnnxAttribute.Ints("kernel_shape", k, k),
                            OnnxAttribute.Ints("strides", s, s));
                        break;
                    }

                case "flatten":
                    writer.Node("Flatten", [current], [output], OnnxAttribute.Int("axis", 1));
                    break;
                case "dropout":
                    writer.Node("Identity", [current], [output]);
                    break;
                case "layer_norm":
                    {
                        var dims = before.Dims.Select(d => (long)d).ToArray();
                        writer.Initializer($"l{i}.scale", values![0], dims)
                            .Initializer($"l{i}.shift", values[1], dims)
                            .Node("LayerNormalization", [current, $"l{i}.scale", $"l{i}.shift"], [output], OnnxAttribute.Int("axis", 1), OnnxAttribute.Float("epsilon", 1e-5f));
                        break;
                    }

                case "batch_norm":
                    {
                        long channels = before.Dims[0];
                        writer.Initializer($"l{i}.scale", values![0], [channels])
                            .Initializer($"l{i}.shift", values[1], [channels])
                            .Initializer($"l{i}.mean", values[2], [channels])
                            .Initializer($"l{i}.var", values[3], [channels])
                            .Node("BatchNormalization", [current, $"l{i}.scale", $"l{i}.shift", $"l{i}.mean", $"l{i}.var"], [output], OnnxAttribute.Float("epsilon", 1e-5f));
                        break;
                    }

                case "relu":
                    writer.Node("Relu", [current], [output]);
                    break;
                case "sigmoid":
                    writer.Node("Sigmoid", [current], [output]);
                    break;
                case "tanh":
                    writer.Node("Tanh", [current], [output]);
                    break;
                case "gelu":
                    // The tanh form ggml trained with: x·σ(√(8/π)·(x + 0.044715·x³)).
                    writer.Initializer($"l{i}.cubic", [GeluCubic], [])
                        .Initializer($"l{i}.scale", [GeluScale], [])
                        .Node("Mul", [current, current], [$"l{i}.sq"])
                        .Node("Mul", [$"l{i}.sq", current], [$"l{i}.cube"])
                        .Node("Mul", [$"l{i}.cube", $"l{i}.cubic"], [$"l{i}.cubic_term"])
                        .Node("Add", [current, $"l{i}.cubic_term"], [$"l{i}.inner"])
                        .Node("Mul", [$"l{i}.inner", $"l{i}.scale"], [$"l{i}.scaled"])
                        .Node("Sigmoid", [$"l{i}.scaled"], [$"l{i}.gate"])
                        .Node("Mul", [current, $"l{i}.gate"], [output]);
                    break;
            }

            current = output;
        }

        writer.Node("Softmax", [Logits], [Probabilities], OnnxAttribute.Int("axis", 1));
        return writer;
    }
}
