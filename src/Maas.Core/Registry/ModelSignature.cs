namespace Maas.Core.Registry;

/// <summary>What a model file says about itself: tensors for ONNX, architecture and sizes for GGUF.</summary>
/// <remarks>One flat record for both formats so it stores as one JSON document; fields of the other format stay null.</remarks>
public sealed record ModelSignature
{
    /// <summary>ONNX: the inputs a caller feeds.</summary>
    public IReadOnlyList<TensorSignature>? Inputs { get; init; }

    /// <summary>ONNX: the outputs.</summary>
    public IReadOnlyList<TensorSignature>? Outputs { get; init; }

    /// <summary>
    /// ONNX: class labels the file's classifier nodes give outputs (ONNX-ML <c>ZipMap</c>, <c>LinearClassifier</c>,
    /// <c>TreeEnsembleClassifier</c>, <c>SVMClassifier</c>), by output name; only where the output is unambiguously theirs.
    /// </summary>
    public IReadOnlyDictionary<string, IReadOnlyList<string>>? ClassLabels { get; init; }

    /// <summary>ONNX: the producing tool.</summary>
    public string? Producer { get; init; }

    /// <summary>ONNX: the producing tool's version.</summary>
    public string? ProducerVersion { get; init; }

    /// <summary>ONNX: the IR version.</summary>
    public long? IrVersion { get; init; }

    /// <summary>ONNX: operator set versions by domain ("" is the default domain).</summary>
    public IReadOnlyDictionary<string, long>? Opsets { get; init; }

    /// <summary>ONNX metadata_props, or GGUF's general.* string key/values.</summary>
    public IReadOnlyDictionary<string, string>? FileMetadata { get; init; }

    /// <summary>GGUF: general.architecture ("llama", "bert", ...).</summary>
    public string? Architecture { get; init; }

    /// <summary>GGUF: general.name.</summary>
    public string? ModelName { get; init; }

    /// <summary>GGUF: the number of weights.</summary>
    public long? ParameterCount { get; init; }

    /// <summary>GGUF: the training context length.</summary>
    public long? ContextLength { get; init; }

    /// <summary>GGUF: the embedding width.</summary>
    public long? EmbeddingLength { get; init; }

    /// <summary>GGUF: the number of layers.</summary>
    public long? BlockCount { get; init; }

    /// <summary>GGUF: the vocabulary size.</summary>
    public long? VocabularySize { get; init; }

    /// <summary>GGUF: the quantisation ("Q8_0", "F16", ...).</summary>
    public string? Quantization { get; init; }

    /// <summary>GGUF: the chat template, when the file carries one.</summary>
    public string? ChatTemplate { get; init; }

    /// <summary>GGUF: the number of tensors.</summary>
    public long? TensorCount { get; init; }
}
