using Google.Protobuf;
using Maas.Core.Formats.Onnx.Proto;

namespace Maas.Core.Formats.Onnx;

/// <summary>Reads and validates an ONNX model file without ONNX Runtime: signature, metadata and external data.</summary>
public static class OnnxModelReader
{
    // Protobuf's own limit is 2 GiB; ONNX models bigger than that must use external data anyway.
    private const int MaxModelProtoBytes = int.MaxValue;

    /// <summary>Reads the model at <paramref name="path"/>; external data files are looked for next to it.</summary>
    /// <exception cref="InvalidModelFileException">The file is not a usable ONNX model; the message says why.</exception>
    public static OnnxModelInfo Read(string path)
    {
        var fullPath = Path.GetFullPath(path);
        var model = Parse(fullPath);
        return Describe(model, Path.GetDirectoryName(fullPath)!);
    }

    /// <summary>Reads a model held in memory; external data files, if any, are looked for in <paramref name="externalDataDirectory"/>.</summary>
    /// <exception cref="InvalidModelFileException">The bytes are not a usable ONNX model; the message says why.</exception>
    public static OnnxModelInfo Read(ReadOnlySpan<byte> modelBytes, string? externalDataDirectory = null)
    {
        ModelProto model;
        try
        {
            model = ModelProto.Parser.ParseFrom(modelBytes);
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new InvalidModelFileException($"not a valid ONNX protobuf ({modelBytes.Length} bytes): {e.Message}", e);
        }

        return Describe(model, externalDataDirectory);
    }

    /// <summary>Parses the model protobuf itself; for tools that need more than <see cref="OnnxModelInfo"/>.</summary>
    /// <exception cref="InvalidModelFileException">The file is not a parseable ONNX protobuf.</exception>
    public static ModelProto Parse(string path)
    {
        using var file = OpenModel(path);
        if (file.Length > MaxModelProtoBytes)
        {
            throw new InvalidModelFileException(
                $"'{Path.GetFileName(path)}' is {file.Length} bytes; an ONNX protobuf cannot exceed 2 GiB (large weights belong in external data files)");
        }

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

    private static OnnxModelInfo Describe(ModelProto model, string? directory)
    {
        if (model.Graph is null)
        {
            throw new InvalidModelFileException(model.CalculateSize() == 0
                ? "not an ONNX model: the file holds no ModelProto fields"
                : "not a usable ONNX model: it has no graph");
        }

        if (!model.HasIrVersion || model.IrVersion <= 0)
        {
            throw new InvalidModelFileException("not a usable ONNX model: ir_version is missing");
        }

        var graph = model.Graph;
        if (graph.Output.Count == 0)
        {
            throw new InvalidModelFileException("not a usable ONNX model: the graph has no outputs");
        }

        var initializerNames = graph.Initializer.Select(t => t.Name).ToHashSet(StringComparer.Ordinal);
        var externalFiles = new List<string>();
        var fileSizes = new Dictionary<string, long>(StringComparer.Ordinal);
        CheckTensors(graph, directory, externalFiles, fileSizes);

        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var entry in model.MetadataProps)
        {
            metadata[entry.Key] = entry.Value;
        }

        return new OnnxModelInfo
        {
            IrVersion = model.IrVersion,
            ProducerName = model.ProducerName,
            ProducerVersion = model.ProducerVersion,
            Domain = model.Domain,
            ModelVersion = model.ModelVersion,
            Description = model.DocString,
            GraphName = graph.Name,
            Opsets = model.OpsetImport.Select(o => new OnnxOpset(o.Domain, o.Version)).ToArray(),
            Inputs = graph.Input.Where(i => !initializerNames.Contains(i.Name)).Select(Describe).ToArray(),
            Outputs = graph.Output.Select(Describe).ToArray(),
            Metadata = metadata,
            ExternalDataFiles = externalFiles,
            InitializerCount = graph.Initializer.Count,
        };
    }

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

    // Walks the graph and its subgraphs (If/Loop/Scan bodies): every initializer must have as many bytes as its shape needs.
    private static void CheckTensors(GraphProto graph, string? directory, List<string> externalFiles, Dictionary<string, long> fileSizes)
    {
        foreach (var tensor in graph.Initializer)
        {
            CheckTensor(tensor, directory, externalFiles, fileSizes);
        }

        foreach (var node in graph.Node)
        {
            foreach (var attribute in node.Attribute)
            {
                if (attribute.T is not null)
                {
                    CheckTensor(attribute.T, directory, externalFiles, fileSizes);
                }

                if (attribute.G is not null)
                {
                    CheckTensors(attribute.G, directory, externalFiles, fileSizes);
                }

                foreach (var sub in attribute.Graphs)
                {
                    CheckTensors(sub, directory, externalFiles, fileSizes);
                }
            }
        }
    }

    private static void CheckTensor(TensorProto tensor, string? directory, List<string> externalFiles, Dictionary<string, long> fileSizes)
    {
        long elements = 1;
        foreach (var dim in tensor.Dims)
        {
            if (dim < 0 || (dim > 0 && elements > long.MaxValue / 16 / dim))
            {
                throw new InvalidModelFileException($"initializer '{tensor.Name}' has an impossible shape [{string.Join(",", tensor.Dims)}]");
            }

            elements *= dim;
        }

        var expected = OnnxElementTypes.ByteLength((OnnxElementType)tensor.DataType, elements);
        if (tensor.DataLocation != TensorProto.Types.DataLocation.External)
        {
            if (tensor.HasRawData && expected is { } need && tensor.RawData.Length != need)
            {
                throw new InvalidModelFileException(
                    $"initializer '{tensor.Name}' holds {tensor.RawData.Length} bytes of data but its shape [{string.Join(",", tensor.Dims)}] needs {need}");
            }

            return;
        }

        string? location = null;
        long offset = 0;
        long? length = null;
        foreach (var entry in tensor.ExternalData)
        {
            switch (entry.Key)
            {
                case "location":
                    location = entry.Value;
                    break;
                case "offset":
                    offset = ParseNumber(tensor, entry);
                    break;
                case "length":
                    length = ParseNumber(tensor, entry);
                    break;
            }
        }

        if (string.IsNullOrEmpty(location))
        {
            throw new InvalidModelFileException($"initializer '{tensor.Name}' is marked external but names no location");
        }

        if (length is { } given && expected is { } needed && given != needed)
        {
            throw new InvalidModelFileException(
                $"initializer '{tensor.Name}' declares {given} bytes of external data but its shape [{string.Join(",", tensor.Dims)}] needs {needed}");
        }

        if (!externalFiles.Contains(location, StringComparer.Ordinal))
        {
            externalFiles.Add(location);
        }

        if (directory is null)
        {
            return; // Held in memory with no folder given: the caller checks the files later.
        }

        if (!fileSizes.TryGetValue(location, out var size))
        {
            size = ExternalFileSize(tensor, directory, location);
            fileSizes[location] = size;
        }

        var end = offset + (length ?? expected ?? 0);
        if (end > size)
        {
            throw new InvalidModelFileException(
                $"external data of initializer '{tensor.Name}' ends at byte {end} but '{location}' has only {size} bytes");
        }
    }

    private static long ExternalFileSize(TensorProto tensor, string directory, string location)
    {
        // Like ONNX Runtime, only files inside the model's folder count: no absolute paths, no climbing out with "..".
        var root = Path.GetFullPath(directory);
        var full = Path.GetFullPath(Path.Combine(root, location));
        var rootWithSeparator = Path.EndsInDirectorySeparator(root) ? root : root + Path.DirectorySeparatorChar;
        if (Path.IsPathRooted(location) || !full.StartsWith(rootWithSeparator, StringComparison.Ordinal))
        {
            throw new InvalidModelFileException(
                $"external data file '{location}' referenced by initializer '{tensor.Name}' is outside the model's folder");
        }

        var info = new FileInfo(full);
        if (!info.Exists)
        {
            throw new InvalidModelFileException(
                $"external data file '{location}' referenced by initializer '{tensor.Name}' is missing");
        }

        return info.Length;
    }

    private static long ParseNumber(TensorProto tensor, StringStringEntryProto entry) =>
        long.TryParse(entry.Value, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var value)
            ? value
            : throw new InvalidModelFileException(
                $"initializer '{tensor.Name}' has external data {entry.Key} '{entry.Value}', which is not a non-negative number");
}
