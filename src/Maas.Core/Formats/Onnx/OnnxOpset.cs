namespace Maas.Core.Formats.Onnx;

/// <summary>An operator set the model imports: its domain ("" is the default ONNX domain) and version.</summary>
public sealed record OnnxOpset(string Domain, long Version);
