using Maas.Core.Registry;
using Maas.Optimization.Onnx;

namespace Maas.Optimization;

/// <summary>
/// Refuses at submission a method that cannot apply to a model's operators, rather than a job that fails after it
/// was queued: tree ensembles (LightGBM, FastTree, ...) hold thresholds and leaf values in node attributes, with no
/// weight matrix for float16, int8, int4 or pruning to rewrite.
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

        IReadOnlySet<(string Domain, string OpType)> operators;
        try
        {
            operators = OnnxOperators.Read(path);
        }
        catch (Google.Protobuf.InvalidProtocolBufferException)
        {
            return; // The registry validated the file; the job reports what the rewriter finds.
        }

        var trees = TreeOperators.Where(t => operators.Contains((MlDomain, t))).ToArray();
        if (trees.Length == 0 || rewrites.Any(operators.Contains))
        {
            return;
        }

        var rewritten = string.Join(", ", rewrites.Select(r => r.Domain.Length == 0 ? r.OpType : $"{r.Domain} {r.OpType}"));
        throw new OptimizationRequestException(
            "method_not_applicable",
            $"{spec.Method} cannot apply to version {source.Version} of '{RegistryNames.Shorten(source.Model)}': it is a tree ensemble ({string.Join(", ", trees.Select(t => $"{MlDomain} {t}"))}), "
            + $"whose split thresholds and leaf values are node attributes, not weight tensors, and it has no {rewritten} for {spec.Method} to rewrite; "
            + $"{OptimizationMethods.OnnxOptimize} applies to it");
    }
}
