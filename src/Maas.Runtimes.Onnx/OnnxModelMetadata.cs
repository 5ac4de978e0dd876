using Maas.Core.Formats.Onnx;

namespace Maas.Runtimes.Onnx;

/// <summary>What a loaded model says about itself: ONNX Runtime's model metadata plus IR version and opsets from the file.</summary>
public sealed record OnnxModelMetadata(
    string ProducerName,
    string ProducerVersion,
    string GraphName,
    string Domain,
    string Description,
    string GraphDescription,
    long Version,
    long IrVersion,
    IReadOnlyList<OnnxOpset> Opsets,
    IReadOnlyDictionary<string, string> CustomMetadata);
