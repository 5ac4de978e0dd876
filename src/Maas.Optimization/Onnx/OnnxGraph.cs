using System.Globalization;
using System.Runtime.InteropServices;
using Google.Protobuf;
using Maas.Core.Formats;
using Maas.Core.Formats.Onnx;
using Maas.Core.Formats.Onnx.Proto;

namespace Maas.Optimization.Onnx;

/// <summary>A parsed ONNX model for the rewriters: weights read into memory, node names unique, saved as one file.</summary>
public sealed class OnnxGraph
{
    private int _counter;

    private OnnxGraph(ModelProto model)
    {
        Model = model;
    }

    /// <summary>The model message.</summary>
    public ModelProto Model { get; }

    /// <summary>The main graph.</summary>
    public GraphProto Graph => Model.Graph;

    /// <summary>The default-domain opset the model imports (0 when none).</summary>
    public long Opset => Model.OpsetImport.FirstOrDefault(o => o.Domain is "" or "ai.onnx")?.Version ?? 0;

    /// <summary>Parses <paramref name="path"/> and reads external weights (next to it) into the model, so it saves as one file.</summary>
    /// <exception cref="InvalidModelFileException">The file or its external data is not usable.</exception>
    public static OnnxGraph Load(string path)
    {
        var model = OnnxModelReader.Parse(path);
        var folder = Path.GetDirectoryName(Path.GetFullPath(path))!;
        foreach (var tensor in model.Graph.Initializer.Where(t => t.DataLocation == TensorProto.Types.DataLocation.External))
        {
            var entries = tensor.ExternalData.ToDictionary(e => e.Key, e => e.Value, StringComparer.Ordinal);
            var location = entries.GetValueOrDefault("location") ?? throw new InvalidModelFileException($"initializer '{tensor.Name}' has external data without a location");
            var file = Path.GetFullPath(Path.Combine(folder, location));
            if (!file.StartsWith(folder + Path.DirectorySeparatorChar, StringComparison.Ordinal))
            {
                throw new InvalidModelFileException($"initializer '{tensor.Name}' names external data outside the model's folder");
            }

            var offset = entries.TryGetValue("offset", out var o) ? long.Parse(o, CultureInfo.InvariantCulture) : 0;
            using var stream = File.OpenRead(file);
            var length = entries.TryGetValue("length", out var l) ? long.Parse(l, CultureInfo.InvariantCulture) : stream.Length - offset;
            var bytes = new byte[length];
            stream.Position = offset;
            stream.ReadExactly(bytes);
            tensor.RawData = ByteString.CopyFrom(bytes);
            tensor.ExternalData.Clear();
            tensor.DataLocation = TensorProto.Types.DataLocation.Default;
        }

        // Old exporters list every weight as a graph input too, which makes it overridable and so not a constant to
        // rewrite; weights are not inputs callers give, so they stop being inputs (IR 4 allows that).
        var initializers = model.Graph.Initializer.Select(t => t.Name).ToHashSet(StringComparer.Ordinal);
        var weightInputs = model.Graph.Input.Where(i => initializers.Contains(i.Name)).ToArray();
        foreach (var input in weightInputs)
        {
            model.Graph.Input.Remove(input);
        }

        if (weightInputs.Length > 0 && model.IrVersion < 4)
        {
            model.IrVersion = 4;
        }

        return new OnnxGraph(model) { WeightInputsRemoved = weightInputs.Length };
    }

    /// <summary>Weights that the source also listed as graph inputs, no longer inputs here.</summary>
    public int WeightInputsRemoved { get; private init; }

    /// <summary>Writes the model to <paramref name="path"/> as one protobuf file (weights inline).</summary>
    public void Save(string path)
    {
        if (Model.CalculateSize() is var size && size < 0)
        {
            throw new InvalidModelFileException("the rewritten model is larger than 2 GiB; an inline protobuf cannot hold it");
        }

        using var file = new FileStream(path, FileMode.Create, FileAccess.Write);
        Model.WriteTo(file);
    }

    /// <summary>The initializer of <paramref name="name"/>, or null (graph inputs that are also initializers count as not constant).</summary>
    public TensorProto? Constant(string name)
    {
        if (string.IsNullOrEmpty(name) || Graph.Input.Any(i => i.Name == name))
        {
            return null;
        }

        return Graph.Initializer.FirstOrDefault(t => t.Name == name);
    }

    /// <summary>
    /// How many readers <paramref name="name"/> has: the nodes (in every graph, subgraphs too) that read it, and the graph
    /// outputs it is (the caller reads those), so a weight that is also an output counts as shared and keeps its value.
    /// </summary>
    public int Consumers(string name) => AllNodes(Graph).Sum(n => n.Input.Count(i => i == name)) + Graph.Output.Count(o => o.Name == name);

    /// <summary>A name not yet used in the graph, from <paramref name="stem"/>.</summary>
    public string NewName(string stem) => $"{stem}_maas{_counter++}";

    /// <summary>Every node of <paramref name="graph"/> and of its subgraphs.</summary>
    public static IEnumerable<NodeProto> AllNodes(GraphProto graph)
    {
        foreach (var node in graph.Node)
        {
            yield return node;
            foreach (var attribute in node.Attribute)
            {
                if (attribute.G is { } g)
                {
                    foreach (var inner in AllNodes(g))
                    {
                        yield return inner;
                    }
                }

                foreach (var sub in attribute.Graphs)
                {
                    foreach (var inner in AllNodes(sub))
                    {
                        yield return inner;
                    }
                }
            }
        }
    }

    /// <summary>The values of a float tensor (raw or typed data).</summary>
    public static float[] Floats(TensorProto tensor)
    {
        if (tensor.DataType != (int)OnnxElementType.Float)
        {
            throw new InvalidOperationException($"initializer '{tensor.Name}' is not float");
        }

        if (!tensor.RawData.IsEmpty)
        {
            return MemoryMarshal.Cast<byte, float>(tensor.RawData.Span).ToArray();
        }

        return [.. tensor.FloatData];
    }

    /// <summary>True when <paramref name="tensor"/> is a boolean of one element that is false (Dropout's training_mode).</summary>
    public static bool IsConstantFalse(TensorProto? tensor) =>
        tensor is { DataType: (int)OnnxElementType.Bool } && Count(tensor) == 1
        && (tensor.RawData.IsEmpty ? tensor.Int32Data.Count == 1 && tensor.Int32Data[0] == 0 : tensor.RawData[0] == 0);

    /// <summary>Element count of a tensor from its dims.</summary>
    public static long Count(TensorProto tensor) => tensor.Dims.Aggregate(1L, (a, d) => a * d);

    /// <summary>A new initializer of <paramref name="type"/> with <paramref name="values"/>' bytes.</summary>
    public static TensorProto Tensor<T>(string name, OnnxElementType type, ReadOnlySpan<T> values, IEnumerable<long> dims)
        where T : unmanaged
    {
        var tensor = new TensorProto { Name = name, DataType = (int)type, RawData = ByteString.CopyFrom(MemoryMarshal.AsBytes(values)) };
        tensor.Dims.Add(dims);
        return tensor;
    }

    /// <summary>A node of the default domain.</summary>
    public NodeProto Node(string opType, IEnumerable<string> inputs, IEnumerable<string> outputs, params AttributeProto[] attributes)
    {
        var node = new NodeProto { OpType = opType, Name = NewName(opType) };
        node.Input.Add(inputs);
        node.Output.Add(outputs);
        node.Attribute.Add(attributes);
        return node;
    }

    /// <summary>An integer attribute.</summary>
    public static AttributeProto IntAttribute(string name, long value) => new() { Name = name, Type = AttributeType.Int, I = value };

    /// <summary>Reads an integer attribute of <paramref name="node"/>, or <paramref name="fallback"/>.</summary>
    public static long Int(NodeProto node, string name, long fallback) => node.Attribute.FirstOrDefault(a => a.Name == name) is { } a ? a.I : fallback;

    /// <summary>Reads a float attribute of <paramref name="node"/>, or <paramref name="fallback"/>.</summary>
    public static float Float(NodeProto node, string name, float fallback) => node.Attribute.FirstOrDefault(a => a.Name == name) is { } a ? a.F : fallback;
}
