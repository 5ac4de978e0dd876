namespace Maas.Core.TensorServing;

/// <summary>Names and sizes of <see cref="TensorDataType"/> values as the v2 protocol spells them.</summary>
public static class TensorDataTypes
{
    private static readonly string[] Names =
        ["BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64", "FP16", "BF16", "FP32", "FP64", "BYTES"];

    /// <summary>Every datatype, in declaration order.</summary>
    public static IReadOnlyList<TensorDataType> All { get; } = Enum.GetValues<TensorDataType>();

    /// <summary>The protocol name ("FP32", "BYTES", ...).</summary>
    public static string Name(this TensorDataType type) => Names[(int)type];

    /// <summary>Parses a protocol name (case-sensitive, as the protocol defines them).</summary>
    public static bool TryParse(string? name, out TensorDataType type)
    {
        var index = name is null ? -1 : Array.IndexOf(Names, name);
        type = index < 0 ? default : (TensorDataType)index;
        return index >= 0;
    }

    /// <summary>The protocol names joined for error messages.</summary>
    public static string NameList { get; } = string.Join(", ", Names);

    /// <summary>Bytes per element; 0 for BYTES, whose elements vary in size.</summary>
    public static int ElementSize(this TensorDataType type) => type switch
    {
        TensorDataType.Bool or TensorDataType.UInt8 or TensorDataType.Int8 => 1,
        TensorDataType.UInt16 or TensorDataType.Int16 or TensorDataType.FP16 or TensorDataType.BF16 => 2,
        TensorDataType.UInt32 or TensorDataType.Int32 or TensorDataType.FP32 => 4,
        TensorDataType.UInt64 or TensorDataType.Int64 or TensorDataType.FP64 => 8,
        _ => 0,
    };
}
