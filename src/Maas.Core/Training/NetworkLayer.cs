namespace Maas.Core.Training;

/// <summary>
/// One layer of a neural network as a training request describes it, e.g. <c>{"type": "conv2d", "filters": 8,
/// "kernel": 3, "padding": 1}</c>. Only the fields of its type are read; <see cref="NetworkShapes.Check"/> says which.
/// </summary>
public sealed record NetworkLayer
{
    /// <summary>dense, conv2d, max_pool, avg_pool, flatten, dropout, batch_norm, layer_norm, relu, gelu, tanh, sigmoid or softmax.</summary>
    public string Type { get; init; } = "";

    /// <summary>dense: output features (the last dense layer may leave it out: one per class).</summary>
    public int? Units { get; init; }

    /// <summary>conv2d: output channels.</summary>
    public int? Filters { get; init; }

    /// <summary>conv2d: kernel height and width (square); pooling: window size.</summary>
    public int? Kernel { get; init; }

    /// <summary>conv2d (default 1) and pooling (default the window size): the step.</summary>
    public int? Stride { get; init; }

    /// <summary>conv2d: zeros added on each side (default 0).</summary>
    public int? Padding { get; init; }

    /// <summary>dropout: the fraction of activations zeroed while training (0 to 0.9).</summary>
    public double? Rate { get; init; }

    /// <summary>The layer types networks may use.</summary>
    public static IReadOnlyList<string> Types { get; } =
        ["dense", "conv2d", "max_pool", "avg_pool", "flatten", "dropout", "batch_norm", "layer_norm", "relu", "gelu", "tanh", "sigmoid", "softmax"];
}
