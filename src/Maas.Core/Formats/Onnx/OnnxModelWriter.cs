using System.Globalization;
using System.Runtime.InteropServices;
using Google.Protobuf;
using Maas.Core.Formats.Onnx.Proto;

namespace Maas.Core.Formats.Onnx;

/// <summary>Builds ONNX models in code (inputs, outputs, nodes, weights, metadata) and saves them, weights inline or external.</summary>
/// <remarks>
/// Tensor data is written little-endian, as ONNX requires; MaaS runs on little-endian hosts only.
/// Methods return the writer so a model reads as one chain.
/// </remarks>
public sealed class OnnxModelWriter
{
    // Offsets of external tensors are aligned so ONNX Runtime can map them straight from the file.
    private const int ExternalAlignment = 64;

    private readonly Dictionary<TensorProto, byte[]> _externalData = [];
    private int _nodeCounter;

    /// <summary>Starts an empty model with one graph, the default ONNX operator set at <paramref name="opset"/>.</summary>
    public OnnxModelWriter(string graphName = "main", long opset = 17, long irVersion = 8)
    {
        Model = new ModelProto
        {
            IrVersion = irVersion,
            ProducerName = "maas",
            ProducerVersion = "1",
            Graph = new GraphProto { Name = graphName },
        };
        Opset(opset);
    }

    /// <summary>The model message being built, for anything the builder methods do not cover.</summary>
    public ModelProto Model { get; }

    /// <summary>Sets the producer name and version.</summary>
    public OnnxModelWriter Producer(string name, string version = "")
    {
        Model.ProducerName = name;
        Model.ProducerVersion = version;
        return this;
    }

    /// <summary>Sets the model's doc string.</summary>
    public OnnxModelWriter Description(string text)
    {
        Model.DocString = text;
        return this;
    }

    /// <summary>Sets the model's domain and integer version.</summary>
    public OnnxModelWriter Identify(string domain, long modelVersion)
    {
        Model.Domain = domain;
        Model.ModelVersion = modelVersion;
        return this;
    }

    /// <summary>Imports an operator set (replacing the version of one already imported for the same domain).</summary>
    public OnnxModelWriter Opset(long version, string domain = "")
    {
        var existing = Model.OpsetImport.FirstOrDefault(o => o.Domain == domain);
        if (existing is null)
        {
            Model.OpsetImport.Add(new OperatorSetIdProto { Domain = domain, Version = version });
        }
        else
        {
            existing.Version = version;
        }

        return this;
    }

    /// <summary>Adds a key/value pair to the model's metadata_props.</summary>
    public OnnxModelWriter Metadata(string key, string value)
    {
        Model.MetadataProps.Add(new StringStringEntryProto { Key = key, Value = value });
        return this;
    }

    /// <summary>Declares a graph input; dimensions may be numbers or names (<c>["batch", 3]</c>).</summary>
    public OnnxModelWriter Input(string name, OnnxElementType type, params OnnxDimension[] shape)
    {
        Model.Graph.Input.Add(ValueInfo(name, type, shape));
        return this;
    }

    /// <summary>Declares a graph output; dimensions may be numbers or names (<c>["batch", 3]</c>).</summary>
    public OnnxModelWriter Output(string name, OnnxElementType type, params OnnxDimension[] shape)
    {
        Model.Graph.Output.Add(ValueInfo(name, type, shape));
        return this;
    }

    /// <summary>
    /// Declares a graph output that is a sequence of maps from <paramref name="keyType"/> (INT64 or STRING) to FP32, the
    /// type of an ONNX-ML <c>ZipMap</c>'s output.
    /// </summary>
    public OnnxModelWriter OutputSequenceOfMaps(string name, OnnxElementType keyType)
    {
        var value = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)OnnxElementType.Float } };
        var map = new TypeProto { MapType = new TypeProto.Types.Map { KeyType = (int)keyType, ValueType = value } };
        Model.Graph.Output.Add(new ValueInfoProto { Name = name, Type = new TypeProto { SequenceType = new TypeProto.Types.Sequence { ElemType = map } } });
        return this;
    }

    /// <summary>Adds a node of the default domain; its name is generated from the operator.</summary>
    public OnnxModelWriter Node(string opType, string[] inputs, string[] outputs, params OnnxAttribute[] attributes) =>
        Node(opType, inputs, outputs, name: null, domain: "", attributes);

    /// <summary>Adds a node with an explicit name and domain.</summary>
    public OnnxModelWriter Node(string opType, string[] inputs, string[] outputs, string? name, string domain, params OnnxAttribute[] attributes)
    {
        var node = new NodeProto
        {
            OpType = opType,
            Name = name ?? $"{opType}_{_nodeCounter++}",
            Domain = domain,
        };
        node.Input.Add(inputs);
        node.Output.Add(outputs);
        node.Attribute.Add(attributes.Select(a => a.Proto));
        Model.Graph.Node.Add(node);
        return this;
    }

    /// <summary>Adds a float weight; <paramref name="external"/> stores its bytes in the side file written by <see cref="Save"/>.</summary>
    public OnnxModelWriter Initializer(string name, float[] values, long[] dims, bool external = false) =>
        Initializer<float>(name, OnnxElementType.Float, values, dims, external);

    /// <summary>Adds an int64 weight (shapes for Reshape, indices for Gather...).</summary>
    public OnnxModelWriter Initializer(string name, long[] values, long[] dims, bool external = false) =>
        Initializer<long>(name, OnnxElementType.Int64, values, dims, external);

    /// <summary>Adds a weight of any fixed-size element type from its values' bytes.</summary>
    public OnnxModelWriter Initializer<T>(string name, OnnxElementType type, ReadOnlySpan<T> values, long[] dims, bool external = false)
        where T : unmanaged
    {
        var bytes = MemoryMarshal.AsBytes(values);
        var count = dims.Aggregate(1L, (a, d) => a * d);
        if (OnnxElementTypes.ByteLength(type, count) is not { } need || need != bytes.Length)
        {
            throw new ArgumentException(
                $"initializer '{name}': {bytes.Length} bytes of {type} do not fill the shape [{string.Join(",", dims)}]", nameof(values));
        }

        var tensor = new TensorProto { Name = name, DataType = (int)type };
        tensor.Dims.Add(dims);
        if (external)
        {
            tensor.DataLocation = TensorProto.Types.DataLocation.External;
            _externalData[tensor] = bytes.ToArray();
        }
        else
        {
            tensor.RawData = ByteString.CopyFrom(bytes);
        }

        Model.Graph.Initializer.Add(tensor);
        return this;
    }

    /// <summary>The model as protobuf bytes; every weight must be inline.</summary>
    public byte[] ToBytes()
    {
        if (_externalData.Count > 0)
        {
            throw new InvalidOperationException("the model has external weights; write it with Save(path) so the side file exists");
        }

        return Model.ToByteArray();
    }

    /// <summary>
    /// Writes the model to <paramref name="path"/>; external weights go to <paramref name="externalDataFile"/>
    /// (a file name in the same folder, default "&lt;model file name&gt;.data").
    /// </summary>
    public void Save(string path, string? externalDataFile = null)
    {
        if (_externalData.Count > 0)
        {
            externalDataFile ??= Path.GetFileName(path) + ".data";
            var sidePath = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(path))!, externalDataFile);
            using var side = new FileStream(sidePath, FileMode.Create, FileAccess.Write);
            foreach (var tensor in Model.Graph.Initializer.Where(_externalData.ContainsKey))
            {
                var data = _externalData[tensor];
                var offset = (side.Position + ExternalAlignment - 1) / ExternalAlignment * ExternalAlignment;
                side.Write(new byte[offset - side.Position]);
                side.Write(data);
                tensor.ExternalData.Clear();
                tensor.ExternalData.Add(Entry("location", externalDataFile));
                tensor.ExternalData.Add(Entry("offset", offset.ToString(CultureInfo.InvariantCulture)));
                tensor.ExternalData.Add(Entry("length", data.Length.ToString(CultureInfo.InvariantCulture)));
            }
        }

        using var file = new FileStream(path, FileMode.Create, FileAccess.Write);
        Model.WriteTo(file);
    }

    /// <summary>A model whose output "output" is its input "input": one Identity node, for round-trip tests of a type.</summary>
    public static OnnxModelWriter Identity(OnnxElementType type, params OnnxDimension[] shape) =>
        new OnnxModelWriter("identity")
            .Input("input", type, shape)
            .Output("output", type, shape)
            .Node("Identity", ["input"], ["output"]);

    /// <summary>
    /// An ONNX-ML <c>LinearClassifier</c> over float input "input" [batch, classes] whose weights are the identity, so
    /// each class's score is its input column: output "label" (the best class: STRING for <paramref name="stringLabels"/>,
    /// INT64 for <paramref name="intLabels"/>) and, through an Identity, output "scores" FP32 [batch, classes].
    /// </summary>
    public static OnnxModelWriter LinearClassifier(string[]? stringLabels = null, long[]? intLabels = null)
    {
        var classes = stringLabels?.Length ?? intLabels?.Length ?? throw new ArgumentException("give the class labels");
        var coefficients = new float[classes * classes];
        for (var i = 0; i < classes; i++)
        {
            coefficients[(i * classes) + i] = 1;
        }

        var labels = stringLabels is not null ? OnnxAttribute.Strings("classlabels_strings", stringLabels) : OnnxAttribute.Ints("classlabels_ints", intLabels!);
        return new OnnxModelWriter("linear-classifier")
            .Opset(1, "ai.onnx.ml")
            .Input("input", OnnxElementType.Float, "batch", classes)
            .Output("label", stringLabels is not null ? OnnxElementType.String : OnnxElementType.Int64, "batch")
            .Output("scores", OnnxElementType.Float, "batch", classes)
            .Node("LinearClassifier", ["input"], ["label", "raw_scores"], "classifier", "ai.onnx.ml",
                labels,
                OnnxAttribute.Floats("coefficients", coefficients),
                OnnxAttribute.Floats("intercepts", new float[classes]),
                OnnxAttribute.String("post_transform", "NONE"))
            .Node("Identity", ["raw_scores"], ["scores"]);
    }

    /// <summary>
    /// A classifier as scikit-learn's ONNX export writes one by default: <see cref="LinearClassifier"/>'s "label", and its
    /// scores through an ONNX-ML <c>ZipMap</c> as output "probabilities", a sequence of maps from class to score.
    /// </summary>
    public static OnnxModelWriter ZipMapClassifier(string[]? stringLabels = null, long[]? intLabels = null)
    {
        var writer = LinearClassifier(stringLabels, intLabels);
        var graph = writer.Model.Graph;
        graph.Name = "zipmap-classifier";
        graph.Output.Remove(graph.Output.Single(o => o.Name == "scores"));
        graph.Node.Remove(graph.Node.Single(n => n.OpType == "Identity"));
        var labels = stringLabels is not null ? OnnxAttribute.Strings("classlabels_strings", stringLabels) : OnnxAttribute.Ints("classlabels_int64s", intLabels!);
        return writer
            .OutputSequenceOfMaps("probabilities", stringLabels is not null ? OnnxElementType.String : OnnxElementType.Int64)
            .Node("ZipMap", ["raw_scores"], ["probabilities"], "zipmap", "ai.onnx.ml", labels);
    }

    /// <summary>
    /// A multi-layer perceptron over float input "input" [batch, inputs] to output "output" [batch, outputs]:
    /// MatMul + Add per layer, Relu between layers, and Softmax at the end when <paramref name="softmax"/> is set.
    /// </summary>
    public static OnnxModelWriter Mlp(
        IReadOnlyList<DenseLayer> layers,
        string batchDimension = "batch",
        bool softmax = false,
        bool externalWeights = false)
    {
        if (layers.Count == 0)
        {
            throw new ArgumentException("an MLP needs at least one layer", nameof(layers));
        }

        for (var i = 1; i < layers.Count; i++)
        {
            if (layers[i].Inputs != layers[i - 1].Outputs)
            {
                throw new ArgumentException($"layer {i} takes {layers[i].Inputs} inputs but layer {i - 1} gives {layers[i - 1].Outputs}", nameof(layers));
            }
        }

        var writer = new OnnxModelWriter("mlp")
            .Input("input", OnnxElementType.Float, batchDimension, layers[0].Inputs)
            .Output("output", OnnxElementType.Float, batchDimension, layers[^1].Outputs);
        var current = "input";
        for (var i = 0; i < layers.Count; i++)
        {
            var layer = layers[i];
            var last = i == layers.Count - 1;
            writer.Initializer($"fc{i}.weight", layer.Weight, [layer.Inputs, layer.Outputs], externalWeights)
                .Initializer($"fc{i}.bias", layer.Bias, [layer.Outputs], externalWeights)
                .Node("MatMul", [current, $"fc{i}.weight"], [$"fc{i}.matmul"])
                .Node("Add", [$"fc{i}.matmul", $"fc{i}.bias"], [last && !softmax ? "output" : $"fc{i}.out"]);
            current = $"fc{i}.out";
            if (!last)
            {
                writer.Node("Relu", [current], [$"fc{i}.relu"]);
                current = $"fc{i}.relu";
            }
        }

        if (softmax)
        {
            writer.Node("Softmax", [current], ["output"], OnnxAttribute.Int("axis", -1));
        }

        return writer;
    }

    /// <summary>An MLP with seeded random weights: layer sizes are <paramref name="inputs"/>, then each hidden size, then <paramref name="outputs"/>.</summary>
    public static OnnxModelWriter Mlp(int inputs, int[] hidden, int outputs, int seed = 1, bool softmax = false, bool externalWeights = false) =>
        Mlp(DenseLayer.RandomStack(inputs, hidden, outputs, seed), softmax: softmax, externalWeights: externalWeights);

    private static StringStringEntryProto Entry(string key, string value) => new() { Key = key, Value = value };

    private static ValueInfoProto ValueInfo(string name, OnnxElementType type, OnnxDimension[] shape)
    {
        var tensorShape = new TensorShapeProto();
        foreach (var dim in shape)
        {
            var proto = new TensorShapeProto.Types.Dimension();
            if (!dim.IsSymbolic)
            {
                proto.DimValue = dim.Value;
            }
            else if (dim.Name is not null)
            {
                proto.DimParam = dim.Name;
            }

            tensorShape.Dim.Add(proto);
        }

        return new ValueInfoProto
        {
            Name = name,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)type, Shape = tensorShape } },
        };
    }
}
