namespace Maas.Runtimes.Onnx;

/// <summary>How much ONNX Runtime rewrites the graph when a session loads.</summary>
public enum OnnxGraphOptimizationLevel
{
    /// <summary>No graph optimisation.</summary>
    DisableAll = 0,

    /// <summary>Semantics-preserving rewrites such as constant folding.</summary>
    Basic = 1,

    /// <summary>Also fusions specific to ONNX Runtime's kernels.</summary>
    Extended = 2,

    /// <summary>Everything, including layout changes (the default).</summary>
    All = 99,
}
