using Maas.Core.Formats.Gguf;

namespace Maas.Runtimes.Llama;

/// <summary>What <see cref="LlamaQuantizer"/> produces (<c>llama_model_quantize_params</c>).</summary>
public sealed record LlamaQuantizeOptions
{
    /// <summary>The target storage type, e.g. <see cref="LlamaFileType.MostlyQ8_0"/>.</summary>
    public LlamaFileType FileType { get; init; } = LlamaFileType.MostlyQ8_0;

    /// <summary>Threads (0: all cores).</summary>
    public int Threads { get; init; }

    /// <summary>Allow re-quantising tensors that are already quantised.</summary>
    public bool AllowRequantize { get; init; }

    /// <summary>Quantise output.weight too (llama.cpp's default).</summary>
    public bool QuantizeOutputTensor { get; init; } = true;

    /// <summary>Quantise every tensor to the target type (no per-tensor type mixing).</summary>
    public bool Pure { get; init; }

    /// <summary>Type of output.weight, when it should differ.</summary>
    public GgmlType? OutputTensorType { get; init; }

    /// <summary>Type of token_embd.weight, when it should differ.</summary>
    public GgmlType? TokenEmbeddingType { get; init; }

    /// <summary>An importance matrix the quantiser weighs each column's rounding error by (null: none).</summary>
    public LlamaImportanceMatrix? ImportanceMatrix { get; init; }
}
