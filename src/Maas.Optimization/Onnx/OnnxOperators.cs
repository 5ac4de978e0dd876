using Google.Protobuf;

namespace Maas.Optimization.Onnx;

/// <summary>
/// The nodes, initializer shapes and inputs of an ONNX file's main graph, read field by field from the file: tensor
/// values and every other field are skipped without being built, so a submission can look at a large model cheaply.
/// </summary>
public static class OnnxOperators
{
    private const int GraphField = 7; // ModelProto.graph
    private const int NodeField = 1; // GraphProto.node
    private const int InitializerField = 5; // GraphProto.initializer
    private const int InputField = 11; // GraphProto.input
    private const int NodeInputField = 1; // NodeProto.input
    private const int OpTypeField = 4; // NodeProto.op_type
    private const int DomainField = 7; // NodeProto.domain
    private const int DimsField = 1; // TensorProto.dims
    private const int DataTypeField = 2; // TensorProto.data_type
    private const int TensorNameField = 8; // TensorProto.name
    private const int ValueInfoNameField = 1; // ValueInfoProto.name

    /// <summary>Each (domain, op_type) of the main graph's nodes once, the default domain as "".</summary>
    /// <exception cref="InvalidProtocolBufferException">The file is not a readable ONNX protobuf.</exception>
    public static IReadOnlySet<(string Domain, string OpType)> Read(string path) => Summarize(path).Operators;

    /// <summary>The main graph's nodes, initializer shapes and input names.</summary>
    /// <exception cref="InvalidProtocolBufferException">The file is not a readable ONNX protobuf.</exception>
    public static OnnxGraphSummary Summarize(string path)
    {
        var nodes = new List<OnnxNodeSummary>();
        var initializers = new Dictionary<string, OnnxInitializerShape>(StringComparer.Ordinal);
        var inputs = new HashSet<string>(StringComparer.Ordinal);
        using var file = File.OpenRead(path);
        using var input = new CodedInputStream(file, leaveOpen: true);
        uint tag;
        while ((tag = input.ReadTag()) != 0)
        {
            if (WireFormat.GetTagFieldNumber(tag) != GraphField || WireFormat.GetTagWireType(tag) != WireFormat.WireType.LengthDelimited)
            {
                input.SkipLastField();
                continue;
            }

            var graphLength = input.ReadLength();
            var graphEnd = input.Position + graphLength;
            while (input.Position < graphEnd && (tag = input.ReadTag()) != 0)
            {
                if (WireFormat.GetTagWireType(tag) != WireFormat.WireType.LengthDelimited)
                {
                    input.SkipLastField();
                    continue;
                }

                switch (WireFormat.GetTagFieldNumber(tag))
                {
                    case NodeField:
                        nodes.Add(Node(input.ReadBytes()));
                        break;
                    case InitializerField:
                        var tensorLength = input.ReadLength();
                        var shape = Initializer(input, input.Position + tensorLength);
                        initializers[shape.Name] = shape;
                        break;
                    case InputField:
                        inputs.Add(ValueInfoName(input.ReadBytes()));
                        break;
                    default:
                        input.SkipLastField();
                        break;
                }
            }
        }

        return new OnnxGraphSummary(nodes, initializers, inputs);
    }

    private static OnnxNodeSummary Node(ByteString bytes)
    {
        var (domain, opType) = ("", "");
        var inputs = new List<string>();
        var node = bytes.CreateCodedInput();
        uint tag;
        while ((tag = node.ReadTag()) != 0)
        {
            var delimited = WireFormat.GetTagWireType(tag) == WireFormat.WireType.LengthDelimited;
            switch (WireFormat.GetTagFieldNumber(tag))
            {
                case NodeInputField when delimited:
                    inputs.Add(node.ReadString());
                    break;
                case OpTypeField when delimited:
                    opType = node.ReadString();
                    break;
                case DomainField when delimited:
                    domain = node.ReadString();
                    break;
                default:
                    node.SkipLastField();
                    break;
            }
        }

        return new OnnxNodeSummary(domain == "ai.onnx" ? "" : domain, opType, inputs);
    }

    // Reads a TensorProto up to end, skipping its values (raw or typed) in the stream instead of building them.
    private static OnnxInitializerShape Initializer(CodedInputStream input, long end)
    {
        var (name, dataType) = ("", 0);
        var dims = new List<long>();
        uint tag;
        while (input.Position < end && (tag = input.ReadTag()) != 0)
        {
            var wire = WireFormat.GetTagWireType(tag);
            switch (WireFormat.GetTagFieldNumber(tag))
            {
                case DimsField when wire == WireFormat.WireType.Varint:
                    dims.Add(input.ReadInt64());
                    break;
                case DimsField when wire == WireFormat.WireType.LengthDelimited:
                    var dimsLength = input.ReadLength();
                    var dimsEnd = input.Position + dimsLength;
                    while (input.Position < dimsEnd)
                    {
                        dims.Add(input.ReadInt64());
                    }

                    break;
                case DataTypeField when wire == WireFormat.WireType.Varint:
                    dataType = input.ReadInt32();
                    break;
                case TensorNameField when wire == WireFormat.WireType.LengthDelimited:
                    name = input.ReadString();
                    break;
                default:
                    input.SkipLastField();
                    break;
            }
        }

        return new OnnxInitializerShape(name, dataType, dims);
    }

    private static string ValueInfoName(ByteString bytes)
    {
        var info = bytes.CreateCodedInput();
        uint tag;
        while ((tag = info.ReadTag()) != 0)
        {
            if (WireFormat.GetTagFieldNumber(tag) == ValueInfoNameField && WireFormat.GetTagWireType(tag) == WireFormat.WireType.LengthDelimited)
            {
                return info.ReadString();
            }

            info.SkipLastField();
        }

        return "";
    }
}
