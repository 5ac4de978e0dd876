using Google.Protobuf;

namespace Maas.Optimization.Onnx;

/// <summary>
/// The operators of an ONNX file's main graph, read field by field from the file: initializers and every other field
/// are skipped without being built, so a submission can look at a large model's operators cheaply.
/// </summary>
public static class OnnxOperators
{
    private const int GraphField = 7; // ModelProto.graph
    private const int NodeField = 1; // GraphProto.node
    private const int OpTypeField = 4; // NodeProto.op_type
    private const int DomainField = 7; // NodeProto.domain

    /// <summary>Each (domain, op_type) of the main graph's nodes once, the default domain as "".</summary>
    /// <exception cref="InvalidProtocolBufferException">The file is not a readable ONNX protobuf.</exception>
    public static IReadOnlySet<(string Domain, string OpType)> Read(string path)
    {
        var found = new HashSet<(string, string)>();
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

            var length = input.ReadLength();
            var end = input.Position + length;
            while (input.Position < end && (tag = input.ReadTag()) != 0)
            {
                if (WireFormat.GetTagFieldNumber(tag) == NodeField && WireFormat.GetTagWireType(tag) == WireFormat.WireType.LengthDelimited)
                {
                    found.Add(Node(input.ReadBytes()));
                }
                else
                {
                    input.SkipLastField();
                }
            }
        }

        return found;
    }

    private static (string Domain, string OpType) Node(ByteString bytes)
    {
        var (domain, opType) = ("", "");
        var node = bytes.CreateCodedInput();
        uint tag;
        while ((tag = node.ReadTag()) != 0)
        {
            switch (WireFormat.GetTagFieldNumber(tag))
            {
                case OpTypeField when WireFormat.GetTagWireType(tag) == WireFormat.WireType.LengthDelimited:
                    opType = node.ReadString();
                    break;
                case DomainField when WireFormat.GetTagWireType(tag) == WireFormat.WireType.LengthDelimited:
                    domain = node.ReadString();
                    break;
                default:
                    node.SkipLastField();
                    break;
            }
        }

        return (domain == "ai.onnx" ? "" : domain, opType);
    }
}
