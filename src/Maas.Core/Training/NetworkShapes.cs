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
            var at = new LayerAt(i, layers[i], i == lastDense, i == layers.Count - 1);
            (var layer, shape, var added) = Resolve(at, shape, classes);
            parameters += added;

            // A convolution after the first gathers its columns with get_rows: 17 nodes with its bias (GgmlNetwork).
            nodes += layer.Type switch { "conv2d" => 18, "layer_norm" => 10, "batch_norm" => 20, "gelu" => 12, "tanh" => 6, "sigmoid" => 4, _ => 2 };
            if (nodes > MaxForwardNodes)
            {
                throw at.Bad($"the network needs more than {MaxForwardNodes} ggml operations before this layer ends; use fewer layers");
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

    // A layer of the list: where it is, and how errors name it.
    private readonly record struct LayerAt(int Index, NetworkLayer Layer, bool LastDense, bool Last)
    {
        public NetworkException Bad(string why) =>
            new($"layer {Index} ({(string.IsNullOrEmpty(Layer.Type) ? "no type" : Layer.Type)}): {why}");

        public int Positive(int? value, string field, int fallback, int max)
        {
            var v = value ?? fallback;
            return v >= 1 && v <= max ? v : throw Bad($"{field} must be 1 to {max}, not {v}");
        }
    }

    // The layer with its sizes filled in, the shape after it and the parameters it adds.
    private static (NetworkLayer Layer, NetworkShape Shape, long Parameters) Resolve(LayerAt at, NetworkShape shape, int classes)
    {
        var layer = at.Layer;
        switch (layer.Type)
        {
            case "dense":
                return Dense(at, shape, classes);
            case "conv2d":
                return Conv(at, shape);
            case "max_pool" or "avg_pool":
                return Pool(at, shape);
            case "flatten":
                return (layer, new([checked((int)shape.Size)]), 0);
            case "dropout":
                if (layer.Rate is not { } rate || !(rate >= 0 && rate <= 0.9))
                {
                    throw at.Bad($"rate must be 0 to 0.9, not {(layer.Rate is { } r ? r.ToString(System.Globalization.CultureInfo.InvariantCulture) : "missing")}");
                }

                return (layer, shape, 0);
            case "layer_norm":
                return (layer, shape, 2 * shape.Size);
            case "relu" or "gelu" or "tanh" or "sigmoid":
                return (layer, shape, 0);
            case "softmax":
                return at.Last ? (layer, shape, 0) : throw at.Bad("softmax can only be the last layer (it turns the class scores into probabilities)");
            case "batch_norm":
                // Per channel (images) or per feature (flat): a scale and a shift, plus running statistics.
                return (layer, shape, 2 * shape.Dims[0]);
            default:
                throw at.Bad($"type must be one of {string.Join(", ", NetworkLayer.Types)}");
        }
    }

    private static (NetworkLayer Layer, NetworkShape Shape, long Parameters) Dense(LayerAt at, NetworkShape shape, int classes)
    {
        if (!shape.Flat)
        {
            throw at.Bad($"takes flat features but gets {shape}; put a flatten layer before it");
        }

        if (at.LastDense && at.Layer.Units is { } given && given != classes)
        {
            throw at.Bad($"the last dense layer gives the class scores: units must be {classes} (the classes of the label), not {given}");
        }

        var units = at.LastDense ? classes : at.Positive(at.Layer.Units, "units", 0, 65_536);
        return (at.Layer with { Units = units }, new([units]), (shape.Size + 1) * units);
    }

    private static (NetworkLayer Layer, NetworkShape Shape, long Parameters) Conv(LayerAt at, NetworkShape shape)
    {
        if (shape.Flat)
        {
            throw at.Bad($"takes [channels, height, width] but gets flat features {shape}");
        }

        var filters = at.Positive(at.Layer.Filters, "filters", 0, 4096);
        var kernel = at.Positive(at.Layer.Kernel, "kernel", 0, 64);
        var stride = at.Positive(at.Layer.Stride, "stride", 1, 64);
        var padding = at.Layer.Padding ?? 0;
        if (padding < 0 || padding >= kernel)
        {
            throw at.Bad($"padding must be 0 to kernel - 1 ({kernel - 1}), not {padding}");
        }

        var height = (shape.Dims[1] + (2 * padding) - kernel) / stride + 1;
        var width = (shape.Dims[2] + (2 * padding) - kernel) / stride + 1;
        if (shape.Dims[1] + (2 * padding) < kernel || shape.Dims[2] + (2 * padding) < kernel)
        {
            throw at.Bad($"a {kernel}×{kernel} kernel does not fit an input of {shape} with padding {padding}");
        }

        var layer = at.Layer with { Filters = filters, Kernel = kernel, Stride = stride, Padding = padding };
        return (layer, new([filters, height, width]), ((long)shape.Dims[0] * kernel * kernel + 1) * filters);
    }

    private static (NetworkLayer Layer, NetworkShape Shape, long Parameters) Pool(LayerAt at, NetworkShape shape)
    {
        if (shape.Flat)
        {
            throw at.Bad($"takes [channels, height, width] but gets flat features {shape}");
        }

        var kernel = at.Positive(at.Layer.Kernel, "kernel", 2, 64);
        var stride = at.Positive(at.Layer.Stride, "stride", kernel, 64);
        if (at.Layer.Padding is { } p && p != 0)
        {
            throw at.Bad("pooling takes no padding");
        }

        if (shape.Dims[1] < kernel || shape.Dims[2] < kernel)
        {
            throw at.Bad($"a {kernel}×{kernel} window does not fit an input of {shape}");
        }

        var layer = at.Layer with { Kernel = kernel, Stride = stride, Padding = 0 };
        return (layer, new([shape.Dims[0], (shape.Dims[1] - kernel) / stride + 1, (shape.Dims[2] - kernel) / stride + 1]), 0);
    }
}
