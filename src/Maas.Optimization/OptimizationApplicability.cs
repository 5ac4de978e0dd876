using Maas.Core.Registry;
using Maas.Optimization.Onnx;

namespace Maas.Optimization;

/// <summary>
/// Refuses at submission a method that cannot apply to a model's operators, rather than a job that fails after it
/// was queued: tree ensembles (LightGBM, FastTree, ...) hold thresholds and leaf values in node attributes, with no
/// weight matrix for float16, int8, int4 or pruning to rewrite; int4 takes only large MatMul weights.
/// </summary>
public static class OptimizationApplicability
{
    private const string MlDomain = "ai.onnx.ml";

    private static readonly string[] TreeOperators = ["TreeEnsembleClassifier", "TreeEnsembleRegressor", "TreeEnsemble"];

    // The operators whose weights each method rewrites (ML.NET's linear nodes are lowered to a MatMul first).
    private static readonly Dictionary<string, (string Domain, string OpType)[]> Rewrites = new(StringComparer.Ordinal)
    {
        [OptimizationMethods.OnnxFp16] = [("", "MatMul"), ("", "Gemm"), ("", "Conv")],
        [OptimizationMethods.OnnxInt8Dynamic] = [("", "MatMul"), ("", "Gemm"), ("", "Conv"), (MlDomain, "LinearClassifier"), (MlDomain, "LinearRegressor")],
        [OptimizationMethods.OnnxInt8Static] = [("", "MatMul"), ("", "Gemm"), ("", "Conv")],
        [OptimizationMethods.OnnxInt4] = [("", "MatMul")],
        [OptimizationMethods.PruneMagnitude] = [("", "MatMul"), ("", "Gemm"), ("", "Conv"), (MlDomain, "LinearClassifier"), (MlDomain, "LinearRegressor")],
        [OptimizationMethods.PruneStructured] = [("", "MatMul"), ("", "Gemm")],
    };

    /// <summary>
    /// Throws <see cref="OptimizationRequestException"/> (<c>method_not_applicable</c>) when <paramref name="spec"/>'s
    /// method has nothing to rewrite in the ONNX model at <paramref name="path"/> because it is a tree ensemble.
    /// </summary>
    public static void Check(OptimizationSpec spec, ModelVersion source, string path)
    {
        if (!Rewrites.TryGetValue(spec.Method, out var rewrites))
        {
            return; // onnx-optimize applies to any graph; GGUF is checked by format.
        }

        OnnxGraphSummary graph;
        try
        {
            graph = OnnxOperators.Summarize(path);
        }
        catch (Google.Protobuf.InvalidProtocolBufferException)
        {
            return; // The registry validated the file; the job reports what the rewriter finds.
        }

        var operators = graph.Operators;
        var trees = TreeOperators.Where(t => operators.Contains((MlDomain, t))).ToArray();
        if (trees.Length == 0 || rewrites.Any(operators.Contains))
        {
            if (spec.Method == OptimizationMethods.OnnxInt4)
            {
                CheckInt4(spec, source, graph);
            }

            return;
        }

        var rewritten = string.Join(", ", rewrites.Select(r => r.Domain.Length == 0 ? r.OpType : $"{r.Domain} {r.OpType}"));
        throw new OptimizationRequestException(
            "method_not_applicable",
            $"{spec.Method} cannot apply to version {source.Version} of '{RegistryNames.Shorten(source.Model)}': it is a tree ensemble " +
            $"({string.Join(", ", trees.Select(t => $"{MlDomain} {t}"))}), "
            + $"whose split thresholds and leaf values are node attributes, not weight tensors, and it has no {rewritten} for {spec.Method} to rewrite; "
            + $"{OptimizationMethods.OnnxOptimize} applies to it");
    }

    // MatMulNBits takes a float [K, N] weight of at least MinValues values and K >= block_size; without one the job
    // could only fail with nothing_to_optimize after it was queued.
    private static void CheckInt4(OptimizationSpec spec, ModelVersion source, OnnxGraphSummary graph)
    {
        var blockSize = spec.BlockSize ?? OnnxInt4Quantizer.DefaultBlockSize;
        var weights = graph.Nodes
            .Where(n => n.Domain.Length == 0 && n.OpType == "MatMul" && n.Inputs.Count == 2)
            .Select(n => graph.Constant(n.Inputs[1]))
            .OfType<OnnxInitializerShape>()
            .ToArray();
        if (weights.Any(w => OnnxInt4Quantizer.Eligible(w.DataType, w.Dims, blockSize)))
        {
            return;
        }

        var found = weights.Length == 0
            ? "it has no MatMul with a constant weight"
            : $"its MatMul weights are {string.Join(", ", weights.Take(5).Select(w => $"{w.Name} [{string.Join(", ", w.Dims)}]"))}{(weights.Length > 5 ? ", ..." : "")}";
        throw new OptimizationRequestException(
            "method_not_applicable",
            $"{spec.Method} cannot apply to version {source.Version} of '{RegistryNames.Shorten(source.Model)}': it rewrites float MatMul weights [K, N] of at least "
            + $"{OnnxInt4Quantizer.MinValues} values with K at least block_size ({blockSize}), and {found}; "
            + $"{OptimizationMethods.OnnxInt8Dynamic} and {OptimizationMethods.OnnxFp16} take smaller weights");
    }
}
