using Maas.Runtimes.Onnx;

namespace Maas.Optimization.Onnx;

/// <summary>ONNX Runtime's own graph optimisations (constant folding, fusions), saved as a model file.</summary>
/// <remarks>
/// Only the basic and extended levels: the layout level rewrites for the instruction set of the machine it runs on,
/// which would tie the saved file to that machine.
/// </remarks>
public static class OnnxGraphOptimizer
{
    /// <summary>Loads <paramref name="source"/> at <paramref name="level"/> ("basic" or "extended") and saves the optimised graph to <paramref name="output"/>.</summary>
    public static void Optimize(string source, string output, string level)
    {
        using var options = new OnnxSessionOptions
        {
            GraphOptimizationLevel = level switch
            {
                "basic" => OnnxGraphOptimizationLevel.Basic,
                "extended" => OnnxGraphOptimizationLevel.Extended,
                _ => throw new ArgumentException($"level must be basic or extended, not '{level}'", nameof(level)),
            },
            OptimizedModelFilePath = output,
            IntraOpThreads = 1,
        };
        using var session = OnnxSession.Open(source, options);
    }
}
