namespace Maas.Optimization;

/// <summary>An optimisation job's input, checked and resolved when it was submitted.</summary>
public sealed record OptimizationSpec
{
    /// <summary>The queued job kind.</summary>
    public const string Kind = "optimization";

    /// <summary>The model of the source version; the result is a new version of it.</summary>
    public required string Model { get; init; }

    /// <summary>The source version.</summary>
    public required int Version { get; init; }

    /// <summary>The source's SHA-256 when submitted (a version deleted and re-made under the number is refused).</summary>
    public required string SourceSha256 { get; init; }

    /// <summary>The method name.</summary>
    public required string Method { get; init; }

    /// <summary>gguf-quantize: the type ("q4_k_m").</summary>
    public string? Type { get; init; }

    /// <summary>gguf-quantize: where the importance matrix's text comes from: "builtin" or a dataset reference (null: no matrix).</summary>
    public string? ImatrixReference { get; init; }

    /// <summary>gguf-quantize: the dataset version of the importance matrix's text, resolved when the job was submitted.</summary>
    public Maas.Core.Training.DatasetReference? ImatrixDataset { get; init; }

    /// <summary>gguf-quantize: the dataset's text column the importance matrix is gathered from.</summary>
    public string? ImatrixColumn { get; init; }

    /// <summary>onnx-optimize: basic or extended.</summary>
    public string? Level { get; init; }

    /// <summary>prune-magnitude: the share of each weight tensor set to zero.</summary>
    public double? Sparsity { get; init; }

    /// <summary>prune-structured: the share of each dense layer's hidden units removed.</summary>
    public double? Ratio { get; init; }

    /// <summary>prune-magnitude and prune-structured: the fine-tune of the pruned network (null: none).</summary>
    public FineTuning.FineTuneSpec? FineTune { get; init; }

    /// <summary>onnx-int4: values per quantisation block along K.</summary>
    public int? BlockSize { get; init; }

    /// <summary>onnx-int8-static: the dataset reference as given ("name" or "name:version").</summary>
    public string? CalibrationReference { get; init; }

    /// <summary>onnx-int8-static: the dataset version resolved when the job was submitted.</summary>
    public Maas.Core.Training.DatasetReference? Calibration { get; init; }

    /// <summary>onnx-int8-static: the number columns a row is read from, in input order.</summary>
    public IReadOnlyList<string>? CalibrationColumns { get; init; }

    /// <summary>onnx-int8-static on pictures: the dataset's image column, resolved when the job was submitted.</summary>
    public string? CalibrationImageColumn { get; init; }

    /// <summary>onnx-int8-static on pictures: options.preprocess as given (JSON), resolved into <see cref="Preprocessing"/> at submission.</summary>
    public string? PreprocessOption { get; init; }

    /// <summary>onnx-int8-static on pictures: options.channel_order as given.</summary>
    public string? ChannelOrder { get; init; }

    /// <summary>onnx-int8-static on pictures: how pixels become input values, resolved when the job was submitted.</summary>
    public Onnx.ImagePreprocessing? Preprocessing { get; init; }

    /// <summary>onnx-int8-static: "minmax" or "percentile".</summary>
    public string? CalibrationMethod { get; init; }

    /// <summary>onnx-int8-static: the percentile of absolute values kept (percentile method).</summary>
    public double? Percentile { get; init; }

    /// <summary>onnx-int8-static: the most dataset rows calibration reads.</summary>
    public int? CalibrationRows { get; init; }

    /// <summary>ONNX: sample inputs compared (onnx-int8-static: calibration rows compared).</summary>
    public int Samples { get; init; } = 8;

    /// <summary>ONNX: the seed of the sample inputs.</summary>
    public int Seed { get; init; } = 1234;

    /// <summary>ONNX: the batch throughput is measured at (batch 1 when the model's batch dimension is fixed).</summary>
    public int ThroughputBatch { get; init; } = 16;

    /// <summary>
    /// ONNX without a fine-tune: the labelled dataset version accuracy is measured on for source and result (its test
    /// split); the same resolution as a fine-tune's dataset, nothing trained. Null: no accuracy measured.
    /// </summary>
    public FineTuning.FineTuneSpec? Evaluation { get; init; }

    /// <summary>onnx-optimize: the caller accepts a file laid out for this machine's CPU (level all, NCHWc operators).</summary>
    public bool MachineSpecific { get; init; }

    /// <summary>onnx-int8-dynamic and onnx-int8-static: "uint8" (zero point 128, exact on every CPU) or "int8" weights.</summary>
    public string WeightType { get; init; } = "uint8";

    /// <summary>Int8 weights only: kept to 7 bits so CPUs without VNNI do not saturate (<see cref="Onnx.Int8WeightEncoding"/>).</summary>
    public bool ReduceRange { get; init; } = true;

    /// <summary>How the int8 rewrites store weights.</summary>
    public Onnx.Int8WeightEncoding WeightEncoding() => new(WeightType != "int8", ReduceRange);

    /// <summary>The gate: threshold per check name; null takes the method's default gate.</summary>
    public IReadOnlyDictionary<string, double>? Gate { get; init; }

    /// <summary>An alias moved to the new version when the gate passes.</summary>
    public string? Alias { get; init; }

    /// <summary>Who submitted it.</summary>
    public string CreatedBy { get; init; } = "";
}
