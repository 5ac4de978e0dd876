using System.Globalization;

namespace Maas.Runtimes.Onnx;

/// <summary>A brain float: the upper 16 bits of an IEEE single, as ONNX's BFLOAT16 stores it.</summary>
public readonly struct BFloat16 : IEquatable<BFloat16>
{
    /// <summary>Wraps the raw bits.</summary>
    public BFloat16(ushort bits) => Bits = bits;

    /// <summary>The raw 16 bits.</summary>
    public ushort Bits { get; }

    /// <summary>Rounds a float to the nearest bfloat16 (ties to even); NaN stays NaN.</summary>
    public static explicit operator BFloat16(float value)
    {
        var bits = BitConverter.SingleToUInt32Bits(value);
        if (float.IsNaN(value))
        {
            return new BFloat16((ushort)((bits >> 16) | 0x0040));
        }

        var rounding = 0x7FFFu + ((bits >> 16) & 1);
        return new BFloat16((ushort)((bits + rounding) >> 16));
    }

    /// <summary>Widens to a float exactly.</summary>
    public static explicit operator float(BFloat16 value) => BitConverter.UInt32BitsToSingle((uint)value.Bits << 16);

    /// <summary>Compares the raw bits.</summary>
    public static bool operator ==(BFloat16 left, BFloat16 right) => left.Equals(right);

    /// <summary>Compares the raw bits.</summary>
    public static bool operator !=(BFloat16 left, BFloat16 right) => !left.Equals(right);

    /// <inheritdoc />
    public bool Equals(BFloat16 other) => Bits == other.Bits;

    /// <inheritdoc />
    public override bool Equals(object? obj) => obj is BFloat16 other && Equals(other);

    /// <inheritdoc />
    public override int GetHashCode() => Bits;

    /// <inheritdoc />
    public override string ToString() => ((float)this).ToString(CultureInfo.InvariantCulture);
}
