using Maas.Core.Training;
using Maas.Runtimes.Ggml;

namespace Maas.Optimization.FineTuning;

/// <summary>
/// A network read back from ONNX: the layers, the input shape, the classes and the weights to start training from, and
/// notes on nodes read as something close to but not exactly what they compute (erf GELU, Dropout).
/// </summary>
public sealed record ImportedNetwork(IReadOnlyList<NetworkLayer> Layers, NetworkShape Input, int Classes, GgmlWeights Weights, string InputName, string LogitsName,
    IReadOnlyList<string> Notes);
