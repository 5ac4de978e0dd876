using Maas.Core.Formats;

namespace Maas.Optimization;

/// <summary>The methods of <c>:optimize</c>: those built, and those named by the API but not built yet.</summary>
public static class OptimizationMethods
{
    /// <summary>llama.cpp's quantiser.</summary>
    public const string GgufQuantize = "gguf-quantize";

    /// <summary>ONNX Runtime's graph optimisations saved as a model.</summary>
    public const string OnnxOptimize = "onnx-optimize";

    /// <summary>Float16 weights.</summary>
    public const string OnnxFp16 = "onnx-fp16";

    /// <summary>Int8 weights, activations quantised at run time.</summary>
    public const string OnnxInt8Dynamic = "onnx-int8-dynamic";

    /// <summary>Int8 weights and activations as QDQ, activation ranges calibrated on a dataset version.</summary>
    public const string OnnxInt8Static = "onnx-int8-static";

    /// <summary>Unstructured magnitude pruning.</summary>
    public const string PruneMagnitude = "prune-magnitude";

    /// <summary>Int4 weight-only MatMulNBits.</summary>
    public const string OnnxInt4 = "onnx-int4";

    /// <summary>Removing hidden units of dense layers.</summary>
    public const string PruneStructured = "prune-structured";

    private static readonly string[] OnnxCommon = ["samples", "seed", "throughput_batch", "evaluation"];

    /// <summary>The methods that work, by name.</summary>
    public static IReadOnlyDictionary<string, OptimizationMethod> Available { get; } = new OptimizationMethod[]
    {
        new(GgufQuantize, ModelFormat.Gguf, "quantized", ["type", "imatrix", "imatrix_column"]),
        new(OnnxOptimize, ModelFormat.Onnx, "optimized", ["level", "machine_specific", .. OnnxCommon]),
        new(OnnxFp16, ModelFormat.Onnx, "quantized", OnnxCommon),
        new(OnnxInt8Dynamic, ModelFormat.Onnx, "quantized", ["weight_type", "reduce_range", .. OnnxCommon]),
        new(OnnxInt8Static, ModelFormat.Onnx, "quantized",
        ["calibration", "calibration_method", "weight_type", "reduce_range", "percentile", "columns", "rows", "preprocess", "channel_order", .. OnnxCommon]),
        new(OnnxInt4, ModelFormat.Onnx, "quantized", ["block_size", .. OnnxCommon]),
        new(PruneMagnitude, ModelFormat.Onnx, "pruned", ["sparsity", "fine_tune", .. OnnxCommon]),
        new(PruneStructured, ModelFormat.Onnx, "pruned", ["ratio", "fine_tune", .. OnnxCommon]),
    }.ToDictionary(m => m.Name, StringComparer.Ordinal);

    /// <summary>Methods the API names that are not built yet: asking for one is a 400, never a stub.</summary>
    public static IReadOnlySet<string> Planned { get; } = new HashSet<string>(StringComparer.Ordinal);
}
