namespace Maas.Optimization.Onnx;

/// <summary>What a submission needs to know about a model's main graph, without its weights.</summary>
public sealed record OnnxGraphSummary(
    IReadOnlyList<OnnxNodeSummary> Nodes,
    IReadOnlyDictionary<string, OnnxInitializerShape> Initializers,
    IReadOnlySet<string> Inputs)
{
    /// <summary>Each (domain, op_type) of the main graph's nodes once, the default domain as "".</summary>
    public IReadOnlySet<(string Domain, string OpType)> Operators { get; } = Nodes.Select(n => (n.Domain, n.OpType)).ToHashSet();

    /// <summary>The initializer named <paramref name="name"/> when it is a constant (not overridable as a graph input).</summary>
    public OnnxInitializerShape? Constant(string name) =>
        !Inputs.Contains(name) && Initializers.TryGetValue(name, out var shape) ? shape : null;
}
