namespace Maas.Core.Formats.Onnx;

/// <summary>One dimension of a tensor shape: a fixed size, or symbolic (Value -1, with the name when the model gives one).</summary>
public readonly record struct OnnxDimension(long Value, string? Name = null)
{
    /// <summary>A dimension whose size is only known at run time.</summary>
    public bool IsSymbolic => Value < 0;

    /// <summary>A fixed dimension.</summary>
    public static OnnxDimension Fixed(long value) =>
        value >= 0 ? new(value) : throw new ArgumentOutOfRangeException(nameof(value), value, "a fixed dimension is >= 0");

    /// <summary>A named symbolic dimension such as "batch".</summary>
    public static OnnxDimension Symbolic(string name) => new(-1, name);

    /// <summary>A dimension of unknown size without a name.</summary>
    public static OnnxDimension Unknown { get; } = new(-1);

    /// <summary>Lets shapes be written as <c>[2, 3]</c>.</summary>
    public static implicit operator OnnxDimension(long value) => Fixed(value);

    /// <summary>Lets symbolic dimensions be written as <c>["batch", 3]</c>.</summary>
    public static implicit operator OnnxDimension(string name) => Symbolic(name);

    /// <inheritdoc />
    public override string ToString() => IsSymbolic ? Name ?? "?" : Value.ToString(System.Globalization.CultureInfo.InvariantCulture);
}

/// <summary>A graph input or output: its name, element type and shape.</summary>
/// <param name="Name">The tensor name used to feed or fetch it.</param>
/// <param name="ElementType">The ONNX TensorProto.DataType value (see <see cref="OnnxElementType"/>); 0 for non-tensor values.</param>
/// <param name="KServeDatatype">The KServe v2 datatype ("FP32", "INT64", "BYTES", ...); for types KServe lacks, the ONNX name in capitals, and "SEQUENCE", "MAP" or "OPTIONAL" for non-tensor values.</param>
/// <param name="Shape">The dimensions; empty for a scalar, and also empty when the model gives no shape (see <paramref name="RankKnown"/>).</param>
/// <param name="RankKnown">False when the model declares no shape at all, so any rank is accepted.</param>
public sealed record OnnxValueInfo(string Name, int ElementType, string KServeDatatype, IReadOnlyList<OnnxDimension> Shape, bool RankKnown = true)
{
    /// <summary>The element type as the enum.</summary>
    public OnnxElementType Type => (OnnxElementType)ElementType;

    /// <summary>The shape as numbers, -1 for symbolic dimensions.</summary>
    public long[] Dims => Shape.Select(d => d.Value).ToArray();
}

/// <summary>An operator set the model imports: its domain ("" is the default ONNX domain) and version.</summary>
public sealed record OnnxOpset(string Domain, long Version);

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
