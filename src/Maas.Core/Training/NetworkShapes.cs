namespace Maas.Core.Training;

/// <summary>Checks a layer list against an input shape before training starts, and gives the default network.</summary>
public static class NetworkShapes
{
    /// <summary>Layers at most.</summary>
    public const int MaxLayers = 64;

    /// <summary>
    /// ggml operations the forward pass may have at most: ggml-opt builds the backward pass and optimiser steps into
    /// graphs of 2048 nodes, about four times the forward pass.
    /// </summary>
    public const int MaxForwardNodes = 400;

    /// <summary>Parameters at most (all weights and biases), so one job cannot take the machine's memory.</summary>
    public const long MaxParameters = 50_000_000;

    /// <summary>
    /// The small CNN used when a request gives no network: two 3×3 convolutions (8 and 16 filters) each with ReLU and
    /// 2×2 max pooling, then a 64-unit dense layer with ReLU and one output per class.
    /// </summary>
    public static IReadOnlyList<NetworkLayer> DefaultCnn { get; } =
    [
        new() { Type = "conv2d", Filters = 8, Kernel = 3, Padding = 1 },
        new() { Type = "relu" },
        new() { Type = "max_pool", Kernel = 2 },
        new() { Type = "conv2d", Filters = 16, Kernel = 3, Padding = 1 },
        new() { Type = "relu" },
        new() { Type = "max_pool", Kernel = 2 },
        new() { Type = "flatten" },
        new() { Type = "dense", Units = 64 },
        new() { Type = "relu" },
        new() { Type = "dense" },
    ];

    /// <summary>
    /// The layers with every size filled in (the last dense layer's units, strides) and the shape after each, for an
    /// input of <paramref name="input"/> ([channels, height, width]) and <paramref name="classes"/> outputs.
    /// </summary>
    public static (IReadOnlyList<NetworkLayer> Layers, IReadOnlyList<NetworkShape> Shapes) Check(IReadOnlyList<NetworkLayer> layers, NetworkShape input, int classes)
    {
        if (layers.Count is 0 or > MaxLayers)
        {
            throw new NetworkException($"a network has 1 to {MaxLayers} layers, not {layers.Count}");
        }

        var lastDense = -1;
        for (var i = 0; i < layers.Count; i++)
        {
            // A JSON null in the list (a trailing comma's leftover, a generated list with a gap) is no layer at all.
            if (layers[i] is null)
            {
                throw new NetworkException($"layer {i} is null; each layer is an object such as {{\"type\": \"relu\"}}");
            }

            if (layers[i].Type == "dense")
            {
                lastDense = i;
            }
        }

        var resolved = new List<NetworkLayer>();
        var shapes = new List<NetworkShape>();
        var shape = input;
        long parameters = 0;
        var nodes = 0;
        for (var i = 0; i < layers.Count; i++)
        {
            var layer = layers[i];
            var name = $"layer {i} ({(string.IsNullOrEmpty(layer.Type) ? "no type" : layer.Type)})";
            NetworkException Bad(string why) => new($"{name}: {why}");
            int Positive(int? value, string field, int fallback, int max)
            {
                var v = value ?? fallback;
                return v >= 1 && v <= max ? v : throw Bad($"{field} must be 1 to {max}, not {v}");
            }

            switch (layer.Type)
            {
                case "dense":
                    {
                        if (!shape.Flat)
                        {
                            throw Bad($"takes flat features but gets {shape}; put a flatten layer before it");
                        }

                        if (i == lastDense && layer.Units is { } given && given != classes)
                        {
                            throw Bad($"the last dense layer gives the class scores: units must be {classes} (the classes of the label), not {given}");
                        }

                        var units = i == lastDense ? classes : Positive(layer.Units, "units", 0, 65_536);
                        parameters += (shape.Size + 1) * units;
                        layer = layer with { Units = units };
                        shape = new([units]);
                        break;
                    }

                case "conv2d":
                    {
                        if (shape.Flat)
                        {
                            throw Bad($"takes [channels, height, width] but gets flat features {shape}");
                        }

                        var filters = Positive(layer.Filters, "filters", 0, 4096);
                        var kernel = Positive(layer.Kernel, "kernel", 0, 64);
                        var stride = Positive(layer.Stride, "stride", 1, 64);
                        var padding = layer.Padding ?? 0;
                        if (padding < 0 || padding >= kernel)
                        {
                            throw Bad($"padding must be 0 to kernel - 1 ({kernel - 1}), not {padding}");
                        }

                        var height = (shape.Dims[1] + (2 * padding) - kernel) / stride + 1;
                        var width = (shape.Dims[2] + (2 * padding) - kernel) / stride + 1;
                        if (shape.Dims[1] + (2 * padding) < kernel || shape.Dims[2] + (2 * padding) < kernel)
                        {
                            throw Bad($"a {kernel}×{kernel} kernel does not fit an input of {shape} with padding {padding}");
                        }

                        parameters += ((long)shape.Dims[0] * kernel * kernel + 1) * filters;
                        layer = layer with { Filters = filters, Kernel = kernel, Stride = stride, Padding = padding };
                        shape = new([filters, height, width]);
                        break;
                    }

                case "max_pool" or "avg_pool":
                    {
                        if (shape.Flat)
                        {
                            throw Bad($"takes [channels, height, width] but gets flat features {shape}");
                        }

                        var kernel = Positive(layer.Kernel, "kernel", 2, 64);
                        var stride = Positive(layer.Stride, "stride", kernel, 64);
                        if (layer.Padding is { } p && p != 0)
                        {
                            throw Bad("pooling takes no padding");
                        }

                        if (shape.Dims[1] < kernel || shape.Dims[2] < kernel)
                        {
                            throw Bad($"a {kernel}×{kernel} window does not fit an input of {shape}");
                        }

                        layer = layer with { Kernel = kernel, Stride = stride, Padding = 0 };
                        shape = new([shape.Dims[0], (shape.Dims[1] - kernel) / stride + 1, (shape.Dims[2] - kernel) / stride + 1]);
                        break;
                    }

                case "flatten":
                    shape = new([checked((int)shape.Size)]);
                    break;
                case "dropout":
                    if (layer.Rate is not { } rate || !(rate >= 0 && rate <= 0.9))
                    {
                        throw Bad($"rate must be 0 to 0.9, not {(layer.Rate is { } r ? r.ToString(System.Globalization.CultureInfo.InvariantCulture) : "missing")}");
                    }

                    break;
                case "layer_norm":
                    parameters += 2 * shape.Size;
                    break;
                case "relu" or "gelu" or "tanh" or "sigmoid":
                    break;
                case "softmax":
                    if (i != layers.Count - 1)
                    {
                        throw Bad("softmax can only be the last layer (it turns the class scores into probabilities)");
                    }

                    break;
                case "batch_norm":
                    // Per channel (images) or per feature (flat): a scale and a shift, plus running statistics.
                    parameters += 2 * shape.Dims[0];
                    break;
                default:
                    throw Bad($"type must be one of {string.Join(", ", NetworkLayer.Types)}");
            }

            // A convolution after the first gathers its columns with get_rows: 17 nodes with its bias (GgmlNetwork).
            nodes += layer.Type switch { "conv2d" => 18, "layer_norm" => 10, "batch_norm" => 20, "gelu" => 12, "tanh" => 6, "sigmoid" => 4, _ => 2 };
            if (nodes > MaxForwardNodes)
            {
                throw Bad($"the network needs more than {MaxForwardNodes} ggml operations before this layer ends; use fewer layers");
            }

            resolved.Add(layer);
            shapes.Add(shape);
        }

        if (lastDense < 0 || layers.Skip(lastDense + 1).Any(l => l.Type != "softmax"))
        {
            throw new NetworkException($"the network must end with a dense layer giving one score per class ({classes}), optionally followed by softmax");
        }

        if (parameters > MaxParameters)
        {
            throw new NetworkException($"the network has {parameters} parameters; at most {MaxParameters} are allowed");
        }

        return (resolved, shapes);
    }
}
