namespace Maas.Core.Formats.Onnx;

/// <summary>ONNX tensor element types, with the values of TensorProto.DataType in the ONNX specification.</summary>
public enum OnnxElementType
{
    /// <summary>No type (an unset field).</summary>
    Undefined = 0,

    /// <summary>32-bit IEEE float.</summary>
    Float = 1,

    /// <summary>Unsigned 8-bit integer.</summary>
    UInt8 = 2,

    /// <summary>Signed 8-bit integer.</summary>
    Int8 = 3,

    /// <summary>Unsigned 16-bit integer.</summary>
    UInt16 = 4,

    /// <summary>Signed 16-bit integer.</summary>
    Int16 = 5,

    /// <summary>Signed 32-bit integer.</summary>
    Int32 = 6,

    /// <summary>Signed 64-bit integer.</summary>
    Int64 = 7,

    /// <summary>A byte string per element (UTF-8 text in practice).</summary>
    String = 8,

    /// <summary>Boolean, one byte per element.</summary>
    Bool = 9,

    /// <summary>16-bit IEEE half float.</summary>
    Float16 = 10,

    /// <summary>64-bit IEEE float.</summary>
    Double = 11,

    /// <summary>Unsigned 32-bit integer.</summary>
    UInt32 = 12,

    /// <summary>Unsigned 64-bit integer.</summary>
    UInt64 = 13,

    /// <summary>Two 32-bit floats.</summary>
    Complex64 = 14,

    /// <summary>Two 64-bit floats.</summary>
    Complex128 = 15,

    /// <summary>Brain float: the upper 16 bits of a 32-bit float.</summary>
    BFloat16 = 16,

    /// <summary>8-bit float, 4 exponent bits, finite only.</summary>
    Float8E4M3FN = 17,

    /// <summary>8-bit float, 4 exponent bits, finite only, no negative zero.</summary>
    Float8E4M3FNUZ = 18,

    /// <summary>8-bit float, 5 exponent bits.</summary>
    Float8E5M2 = 19,

    /// <summary>8-bit float, 5 exponent bits, finite only, no negative zero.</summary>
    Float8E5M2FNUZ = 20,

    /// <summary>Unsigned 4-bit integer, two per byte.</summary>
    UInt4 = 21,

    /// <summary>Signed 4-bit integer, two per byte.</summary>
    Int4 = 22,

    /// <summary>4-bit float, two per byte.</summary>
    Float4E2M1 = 23,
}

/// <summary>Facts about ONNX element types: their KServe v2 datatype names and sizes.</summary>
public static class OnnxElementTypes
{
    /// <summary>The KServe / Open Inference Protocol v2 datatype name, or null when the protocol has none.</summary>
    public static string? ToKServe(OnnxElementType type) => type switch
    {
        OnnxElementType.Bool => "BOOL",
        OnnxElementType.UInt8 => "UINT8",
        OnnxElementType.UInt16 => "UINT16",
        OnnxElementType.UInt32 => "UINT32",
        OnnxElementType.UInt64 => "UINT64",
        OnnxElementType.Int8 => "INT8",
        OnnxElementType.Int16 => "INT16",
        OnnxElementType.Int32 => "INT32",
        OnnxElementType.Int64 => "INT64",
        OnnxElementType.Float16 => "FP16",
        OnnxElementType.Float => "FP32",
        OnnxElementType.Double => "FP64",
        OnnxElementType.BFloat16 => "BF16",
        OnnxElementType.String => "BYTES",
        _ => null,
    };

    /// <summary>The element type for a KServe datatype name, or null when ONNX has no such type.</summary>
    public static OnnxElementType? FromKServe(string datatype) => datatype switch
    {
        "BOOL" => OnnxElementType.Bool,
        "UINT8" => OnnxElementType.UInt8,
        "UINT16" => OnnxElementType.UInt16,
        "UINT32" => OnnxElementType.UInt32,
        "UINT64" => OnnxElementType.UInt64,
        "INT8" => OnnxElementType.Int8,
        "INT16" => OnnxElementType.Int16,
        "INT32" => OnnxElementType.Int32,
        "INT64" => OnnxElementType.Int64,
        "FP16" => OnnxElementType.Float16,
        "FP32" => OnnxElementType.Float,
        "FP64" => OnnxElementType.Double,
        "BF16" => OnnxElementType.BFloat16,
        "BYTES" => OnnxElementType.String,
        _ => null,
    };

    /// <summary>
    /// The datatype name MaaS shows for a type: the KServe name when there is one, else the ONNX name in capitals
    /// (e.g. "FLOAT8E4M3FN"), so a signature never hides a type the protocol cannot carry.
    /// </summary>
    public static string DisplayName(OnnxElementType type) =>
        ToKServe(type) ?? (Enum.IsDefined(type) ? type.ToString().ToUpperInvariant() : $"ONNX_TYPE_{(int)type}");

    /// <summary>Bytes per element, or 0 for strings, sub-byte and unknown types.</summary>
    public static int SizeOf(OnnxElementType type) => type switch
    {
        OnnxElementType.Bool or OnnxElementType.UInt8 or OnnxElementType.Int8 => 1,
        OnnxElementType.Float8E4M3FN or OnnxElementType.Float8E4M3FNUZ => 1,
        OnnxElementType.Float8E5M2 or OnnxElementType.Float8E5M2FNUZ => 1,
        OnnxElementType.UInt16 or OnnxElementType.Int16 or OnnxElementType.Float16 or OnnxElementType.BFloat16 => 2,
        OnnxElementType.UInt32 or OnnxElementType.Int32 or OnnxElementType.Float => 4,
        OnnxElementType.UInt64 or OnnxElementType.Int64 or OnnxElementType.Double or OnnxElementType.Complex64 => 8,
        OnnxElementType.Complex128 => 16,
        _ => 0,
    };

    /// <summary>Bytes that <paramref name="count"/> elements take in raw form, or null for strings and unknown types.</summary>
    public static long? ByteLength(OnnxElementType type, long count) => type switch
    {
        OnnxElementType.UInt4 or OnnxElementType.Int4 or OnnxElementType.Float4E2M1 => (count + 1) / 2,
        _ when SizeOf(type) > 0 => count * SizeOf(type),
        _ => null,
    };
}
