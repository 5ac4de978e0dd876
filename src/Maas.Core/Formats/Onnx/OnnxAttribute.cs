using Google.Protobuf;
using Maas.Core.Formats.Onnx.Proto;

namespace Maas.Core.Formats.Onnx;

/// <summary>A node attribute for <see cref="OnnxModelWriter"/>, made by one of the typed factories.</summary>
public sealed class OnnxAttribute
{
    private OnnxAttribute(AttributeProto proto) => Proto = proto;

    /// <summary>The protobuf message this attribute writes.</summary>
    public AttributeProto Proto { get; }

    /// <summary>An integer attribute (also used for booleans and enums, as ONNX does).</summary>
    public static OnnxAttribute Int(string name, long value) => new(new() { Name = name, Type = AttributeType.Int, I = value });

    /// <summary>A float attribute.</summary>
    public static OnnxAttribute Float(string name, float value) => new(new() { Name = name, Type = AttributeType.Float, F = value });

    /// <summary>A string attribute, stored as UTF-8.</summary>
    public static OnnxAttribute String(string name, string value) =>
        new(new() { Name = name, Type = AttributeType.String, S = ByteString.CopyFromUtf8(value) });

    /// <summary>A list of integers (axes, perm, pads...).</summary>
    public static OnnxAttribute Ints(string name, params long[] values)
    {
        var proto = new AttributeProto { Name = name, Type = AttributeType.Ints };
        proto.Ints.Add(values);
        return new(proto);
    }

    /// <summary>A list of floats.</summary>
    public static OnnxAttribute Floats(string name, params float[] values)
    {
        var proto = new AttributeProto { Name = name, Type = AttributeType.Floats };
        proto.Floats.Add(values);
        return new(proto);
    }

    /// <summary>A list of strings, stored as UTF-8.</summary>
    public static OnnxAttribute Strings(string name, params string[] values)
    {
        var proto = new AttributeProto { Name = name, Type = AttributeType.Strings };
        proto.Strings.Add(values.Select(ByteString.CopyFromUtf8));
        return new(proto);
    }

    /// <summary>A tensor attribute (e.g. Constant's value), from a tensor message.</summary>
    public static OnnxAttribute Tensor(string name, TensorProto value) => new(new() { Name = name, Type = AttributeType.Tensor, T = value });

    /// <summary>A graph attribute (If/Loop bodies), from a writer whose graph becomes the body.</summary>
    public static OnnxAttribute Graph(string name, OnnxModelWriter body) =>
        new(new() { Name = name, Type = AttributeType.Graph, G = body.Model.Graph.Clone() });
}
