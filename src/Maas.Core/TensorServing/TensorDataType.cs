namespace Maas.Core.TensorServing;

/// <summary>The tensor element types of the Open Inference Protocol v2 (KServe), plus BF16.</summary>
public enum TensorDataType
{
    /// <summary>Boolean, one byte per element (0 or 1).</summary>
    Bool,

    /// <summary>Unsigned 8-bit integer.</summary>
    UInt8,

    /// <summary>Unsigned 16-bit integer.</summary>
    UInt16,

    /// <summary>Unsigned 32-bit integer.</summary>
    UInt32,

    /// <summary>Unsigned 64-bit integer.</summary>
    UInt64,

    /// <summary>Signed 8-bit integer.</summary>
    Int8,

    /// <summary>Signed 16-bit integer.</summary>
    Int16,

    /// <summary>Signed 32-bit integer.</summary>
    Int32,

    /// <summary>Signed 64-bit integer.</summary>
    Int64,

    /// <summary>IEEE 754 half precision float.</summary>
    FP16,

    /// <summary>Brain float: the upper 16 bits of an IEEE 754 single.</summary>
    BF16,

    /// <summary>IEEE 754 single precision float.</summary>
    FP32,

    /// <summary>IEEE 754 double precision float.</summary>
    FP64,

    /// <summary>A byte string per element; stored as a 4-byte little-endian length followed by the bytes.</summary>
    Bytes,
}
