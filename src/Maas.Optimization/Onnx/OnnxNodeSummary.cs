namespace Maas.Optimization.Onnx;

/// <summary>A node of the main graph: its operator and the names it reads.</summary>
public sealed record OnnxNodeSummary(string Domain, string OpType, IReadOnlyList<string> Inputs);
