namespace Maas.Runtimes.Ggml;

/// <summary>
/// A network's trained values by layer index: dense [weight [out, in] row-major, bias [out]], conv2d [weight
/// [filters, channels, k, k], bias [filters]], layer_norm [scale, shift] over the example's shape, batch_norm [scale,
/// shift, running mean, running variance] per channel (per feature once flat).
/// </summary>
public sealed record GgmlWeights(IReadOnlyDictionary<int, IReadOnlyList<float[]>> Layers);
