namespace Maas.Core.Formats.Onnx;

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
