using Google.Protobuf;
using Maas.Core.Formats.Onnx.Proto;
using Maas.Core.IO;

namespace Maas.Core.Formats.Onnx;

/// <summary>Reads and validates an ONNX model file without ONNX Runtime: signature, metadata and external data.</summary>
public static class OnnxModelReader
{
    // Protobuf's own limit is 2 GiB; ONNX models bigger than that must use external data anyway.
    private const int MaxModelProtoBytes = int.MaxValue;

    /// <summary>Reads the model at <paramref name="path"/>; external data files are looked for next to it.</summary>
    /// <remarks>
    /// The file is walked, not parsed into objects: every tensor container (initializers, sparse initializers,
    /// attribute tensors and graphs of every kind, function bodies, training graphs) is checked, and a hostile file
    /// costs at most a small multiple of its size in memory.
    /// </remarks>
    /// <exception cref="InvalidModelFileException">The file is not a usable ONNX model; the message says why.</exception>
    /// <exception cref="OperationCanceledException">
    /// <paramref name="cancellationToken"/> fired: checked before each read of the file, so the walk of a model near
    /// 2 GiB stops within one buffer of it.
    /// </exception>
    public static OnnxModelInfo Read(string path, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var fullPath = Path.GetFullPath(path);
        using var file = OpenModel(fullPath);
        CheckSize(fullPath, file.Length);
        using var cancellable = cancellationToken.CanBeCanceled ? new CancellableReadStream(file, cancellationToken) : null;
        return Describe(OnnxModelScanner.Scan(cancellable ?? (Stream)file, Path.GetDirectoryName(fullPath)!));
    }

    /// <summary>Reads a model held in memory; external data files, if any, are looked for in <paramref name="externalDataDirectory"/>.</summary>
    /// <exception cref="InvalidModelFileException">The bytes are not a usable ONNX model; the message says why.</exception>
    public static OnnxModelInfo Read(ReadOnlySpan<byte> modelBytes, string? externalDataDirectory = null)
    {
        using var stream = new MemoryStream(modelBytes.ToArray(), writable: false);
        return Describe(OnnxModelScanner.Scan(stream, externalDataDirectory));
    }

    private static void CheckSize(string path, long length)
    {
        if (length > MaxModelProtoBytes)
        {
            throw new InvalidModelFileException(
                $"'{Path.GetFileName(path)}' is {length} bytes; an ONNX protobuf cannot exceed 2 GiB (large weights belong in external data files)");
        }
    }

    /// <summary>Parses the model protobuf itself; for tools that need more than <see cref="OnnxModelInfo"/>.</summary>
    /// <exception cref="InvalidModelFileException">The file is not a parseable ONNX protobuf.</exception>
    public static ModelProto Parse(string path)
    {
        using var file = OpenModel(path);
        CheckSize(path, file.Length);

        var input = new CodedInputStream(file, leaveOpen: true);
        try
        {
            return ModelProto.Parser.ParseFrom(input);
        }
        catch (InvalidProtocolBufferException e)
        {
            var reason = e.Message.Contains("ended unexpectedly", StringComparison.Ordinal) || input.Position >= file.Length
                ? $"truncated protobuf at byte {input.Position} of {file.Length}"
                : $"invalid protobuf near byte {input.Position} of {file.Length}";
            throw new InvalidModelFileException($"'{Path.GetFileName(path)}' is not a valid ONNX model: {reason} ({e.Message})", e);
        }
    }

    private static FileStream OpenModel(string path)
    {
        try
        {
            return new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1 << 16);
        }
        catch (FileNotFoundException e)
        {
            throw new InvalidModelFileException($"model file '{path}' does not exist", e);
        }
        catch (DirectoryNotFoundException e)
        {
            throw new InvalidModelFileException($"model file '{path}' does not exist", e);
        }
    }

    private static OnnxModelInfo Describe(OnnxModelScanner model)
    {
        if (!model.HasGraph)
        {
            throw new InvalidModelFileException(!model.HasAnyField
                ? "not an ONNX model: the file holds no ModelProto fields"
                : "not a usable ONNX model: it has no graph");
        }

        if (!model.HasIrVersion || model.IrVersion <= 0)
        {
            throw new InvalidModelFileException("not a usable ONNX model: ir_version is missing");
        }

        if (model.Outputs.Count == 0)
        {
            throw new InvalidModelFileException("not a usable ONNX model: the graph has no outputs");
        }

        var outputs = model.Outputs.Select(ParseValue).Select(DescribeOutput).ToArray();
        return new OnnxModelInfo
        {
            IrVersion = model.IrVersion,
            ProducerName = model.ProducerName,
            ProducerVersion = model.ProducerVersion,
            Domain = model.Domain,
            ModelVersion = model.ModelVersion,
            Description = model.DocString,
            GraphName = model.GraphName,
            Opsets = model.Opsets,
            Inputs = model.Inputs.Select(ParseValue).Where(i => !model.InitializerNames.Contains(i.Name)).Select(Describe).ToArray(),
            Outputs = outputs,
            Metadata = model.Metadata,
            ExternalDataFiles = model.ExternalFiles,
            InitializerCount = model.InitializerCount,
            ClassLabels = OnnxClassLabels.Resolve(model.LabelNodes, outputs.Select(o => o.Name)),
        };
    }

    // One graph input or output: small, so the protobuf parser may build it (its nesting is capped by the parser).
    private static ValueInfoProto ParseValue(byte[] bytes)
    {
        try
        {
            return ValueInfoProto.Parser.ParseFrom(bytes);
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new InvalidModelFileException($"a graph input or output is not valid protobuf: {e.Message}", e);
        }
    }

    // A ZipMap's sequence of maps is served as an FP32 tensor [rows, classes] (ZipMapColumns); other outputs as declared.
    private static OnnxValueInfo DescribeOutput(ValueInfoProto value) =>
        value.Type?.SequenceType?.ElemType?.MapType is { ValueType.TensorType.ElemType: (int)OnnxElementType.Float } map
            && map.KeyType is (int)OnnxElementType.Int64 or (int)OnnxElementType.String
            ? new OnnxValueInfo(value.Name, (int)OnnxElementType.Float, OnnxElementTypes.DisplayName(OnnxElementType.Float), [new OnnxDimension(-1), new OnnxDimension(-1)])
            : Describe(value);

    private static OnnxValueInfo Describe(ValueInfoProto value)
    {
        var type = value.Type;
        if (type?.TensorType is { } tensor)
        {
            var elementType = (OnnxElementType)tensor.ElemType;
            return new OnnxValueInfo(
                value.Name,
                tensor.ElemType,
                OnnxElementTypes.DisplayName(elementType),
                tensor.Shape is null ? [] : tensor.Shape.Dim.Select(Describe).ToArray(),
                RankKnown: tensor.Shape is not null);
        }

        var kind = type?.ValueCase switch
        {
            TypeProto.ValueOneofCase.SequenceType => "SEQUENCE",
            TypeProto.ValueOneofCase.MapType => "MAP",
            TypeProto.ValueOneofCase.OptionalType => "OPTIONAL",
            TypeProto.ValueOneofCase.SparseTensorType => "SPARSE_TENSOR",
            _ => "UNKNOWN",
        };
        return new OnnxValueInfo(value.Name, 0, kind, [], RankKnown: false);
    }

    private static OnnxDimension Describe(TensorShapeProto.Types.Dimension dim) => dim.ValueCase switch
    {
        TensorShapeProto.Types.Dimension.ValueOneofCase.DimValue when dim.DimValue >= 0 => new OnnxDimension(dim.DimValue),
        TensorShapeProto.Types.Dimension.ValueOneofCase.DimParam when dim.DimParam.Length > 0 => OnnxDimension.Symbolic(dim.DimParam),
        _ => OnnxDimension.Unknown,
    };
}
