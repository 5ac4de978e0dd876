namespace Maas.Optimization.Tests;

/// <summary>The message of a job failed with <c>nothing_to_optimize</c>: the rewrite's counters in words, not its JSON.</summary>
public sealed class NothingToOptimizeMessageTests
{
    [Fact]
    public void Int8_dynamic_names_the_operators_it_found_none_of_and_why_it_skipped_others()
    {
        var message = OptimizationJobHandler.NothingToOptimize(OptimizationMethods.OnnxInt8Dynamic, new Dictionary<string, object?>
        {
            ["matmuls_quantized"] = 0,
            ["gemms_quantized"] = 0,
            ["convs_quantized"] = 0,
            ["weights_quantized"] = 0L,
            ["weight_type"] = "int8",
            ["weight_levels"] = 127,
            ["skipped"] = new[] { "MatMul 'a': its weight is computed", "Gemm 'b': its weight is computed" },
        });
        Assert.Equal("onnx-int8-dynamic found no weights to quantise: 0 MatMul, 0 Gemm, 0 Conv; skipped: MatMul 'a': its weight is computed, Gemm 'b': its weight " +
            "is computed in this model", message);
        Assert.DoesNotContain("{", message, StringComparison.Ordinal);
    }

    [Fact]
    public void Each_method_says_what_it_found_none_of_in_words()
    {
        Assert.Equal("prune-magnitude found no weight tensors to prune at sparsity 0.5 in this model",
            OptimizationJobHandler.NothingToOptimize(OptimizationMethods.PruneMagnitude, new Dictionary<string, object?> { ["sparsity"] = 0.5, ["tensors_pruned"] = 0 }));
        Assert.DoesNotContain("{", OptimizationJobHandler.NothingToOptimize(OptimizationMethods.OnnxFp16, new Dictionary<string, object?> { ["tensors_converted"] = 0 }),
            StringComparison.Ordinal);
    }
}
