namespace Maas.Core.Formats.Onnx;

/// <summary>What a model file says about itself: producer, opsets, signature, metadata and its external data files.</summary>
public sealed record OnnxModelInfo
{
    /// <summary>The ONNX IR version the file was written with.</summary>
    public required long IrVersion { get; init; }

    /// <summary>The tool that produced the file (e.g. "pytorch").</summary>
    public required string ProducerName { get; init; }

    /// <summary>The producing tool's version.</summary>
    public required string ProducerVersion { get; init; }

    /// <summary>The model's reverse-DNS domain, often empty.</summary>
    public required string Domain { get; init; }

    /// <summary>The model's integer version field, 0 when absent.</summary>
    public required long ModelVersion { get; init; }

    /// <summary>The model's doc string.</summary>
    public required string Description { get; init; }

    /// <summary>The graph's name.</summary>
    public required string GraphName { get; init; }

    /// <summary>The operator sets the model imports.</summary>
    public required IReadOnlyList<OnnxOpset> Opsets { get; init; }

    /// <summary>The inputs a caller feeds (graph inputs that are initializers are left out).</summary>
    public required IReadOnlyList<OnnxValueInfo> Inputs { get; init; }

    /// <summary>The graph outputs.</summary>
    public required IReadOnlyList<OnnxValueInfo> Outputs { get; init; }

    /// <summary>The model's metadata_props map.</summary>
    public required IReadOnlyDictionary<string, string> Metadata { get; init; }

    /// <summary>External data files the weights live in, as written in the model (relative to the model's folder).</summary>
    public required IReadOnlyList<string> ExternalDataFiles { get; init; }

    /// <summary>The number of initializers (weights) in the main graph.</summary>
    public required int InitializerCount { get; init; }

    /// <summary>
    /// Class labels by graph output, from the model's ONNX-ML classifier and <c>ZipMap</c> nodes, for the outputs they
    /// unambiguously name (see <see cref="OnnxClassLabels"/>); empty when it carries none.
    /// </summary>
    public IReadOnlyDictionary<string, IReadOnlyList<string>> ClassLabels { get; init; } = new Dictionary<string, IReadOnlyList<string>>();

    /// <summary>The version of the default ONNX operator set, or null when the model does not import it.</summary>
    public long? DefaultOpset => Opsets.FirstOrDefault(o => o.Domain is "" or "ai.onnx")?.Version;
}
