namespace Maas.Runtimes.Onnx;

/// <summary>Whether a session runs the graph's nodes one at a time or independent branches in parallel.</summary>
public enum OnnxExecutionMode
{
    /// <summary>One node at a time, parallel inside nodes (the default).</summary>
    Sequential = 0,

    /// <summary>Independent branches at once, on the inter-op thread pool.</summary>
    Parallel = 1,
}
