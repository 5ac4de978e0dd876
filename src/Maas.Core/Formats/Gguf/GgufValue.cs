using System.Globalization;

namespace Maas.Core.Formats.Gguf;

/// <summary>One typed GGUF metadata value: a scalar, a string, or an array of one element type.</summary>
/// <remarks>Arrays are kept as typed CLR arrays (float[], string[], ...) so a 150k-entry vocabulary costs no boxing.</remarks>
public sealed class GgufValue : IEquatable<GgufValue>
{
    private GgufValue(GgufValueType type, GgufValueType? elementType, object value)
    {
        Type = type;
        ElementType = elementType;
        Value = value;
    }

    /// <summary>The value's type tag.</summary>
    public GgufValueType Type { get; }

    /// <summary>For arrays, the type of every element; null otherwise.</summary>
    public GgufValueType? ElementType { get; }

    /// <summary>The CLR value: byte, sbyte, ushort, short, uint, int, float, bool, string, ulong, long, double, or a T[] of those.</summary>
    public object Value { get; }

    /// <summary>True for arrays.</summary>
    public bool IsArray => Type == GgufValueType.Array;

    /// <summary>Number of elements of an array value (0 for scalars).</summary>
    public int ArrayLength => Value is Array a ? a.Length : 0;

    public static GgufValue From(byte v) => new(GgufValueType.UInt8, null, v);

    public static GgufValue From(sbyte v) => new(GgufValueType.Int8, null, v);

    public static GgufValue From(ushort v) => new(GgufValueType.UInt16, null, v);

    public static GgufValue From(short v) => new(GgufValueType.Int16, null, v);

    public static GgufValue From(uint v) => new(GgufValueType.UInt32, null, v);

    public static GgufValue From(int v) => new(GgufValueType.Int32, null, v);

    public static GgufValue From(float v) => new(GgufValueType.Float32, null, v);

    public static GgufValue From(bool v) => new(GgufValueType.Bool, null, v);

    public static GgufValue From(string v) => new(GgufValueType.String, null, v ?? throw new ArgumentNullException(nameof(v)));

    public static GgufValue From(ulong v) => new(GgufValueType.UInt64, null, v);

    public static GgufValue From(long v) => new(GgufValueType.Int64, null, v);

    public static GgufValue From(double v) => new(GgufValueType.Float64, null, v);

    public static GgufValue From(byte[] v) => Array(GgufValueType.UInt8, v);

    public static GgufValue From(sbyte[] v) => Array(GgufValueType.Int8, v);

    public static GgufValue From(ushort[] v) => Array(GgufValueType.UInt16, v);

    public static GgufValue From(short[] v) => Array(GgufValueType.Int16, v);

    public static GgufValue From(uint[] v) => Array(GgufValueType.UInt32, v);

    public static GgufValue From(int[] v) => Array(GgufValueType.Int32, v);

    public static GgufValue From(float[] v) => Array(GgufValueType.Float32, v);

    public static GgufValue From(bool[] v) => Array(GgufValueType.Bool, v);

    public static GgufValue From(string[] v) => Array(GgufValueType.String, v);

    public static GgufValue From(ulong[] v) => Array(GgufValueType.UInt64, v);

    public static GgufValue From(long[] v) => Array(GgufValueType.Int64, v);

    public static GgufValue From(double[] v) => Array(GgufValueType.Float64, v);

    /// <summary>The string value; throws when the value is not a string.</summary>
    public string AsString() => Value as string ?? throw WrongType("a string");

    /// <summary>Any integer value widened to long; throws for non-integers or a ulong above long.MaxValue.</summary>
    public long AsInt64() => Value switch
    {
        byte v => v,
        sbyte v => v,
        ushort v => v,
        short v => v,
        uint v => v,
        int v => v,
        long v => v,
        ulong v when v <= long.MaxValue => (long)v,
        _ => throw WrongType("an integer"),
    };

    /// <summary>Any numeric value as double.</summary>
    public double AsDouble() => Value switch
    {
        float v => v,
        double v => v,
        ulong v => v,
        _ => AsInt64(),
    };

    /// <summary>The boolean value.</summary>
    public bool AsBool() => Value is bool b ? b : throw WrongType("a bool");

    /// <summary>The array as T[] (T must match the element type exactly, e.g. string for a token list).</summary>
    public T[] AsArray<T>() => Value as T[] ?? throw WrongType($"an array of {typeof(T).Name}");

    /// <inheritdoc />
    public bool Equals(GgufValue? other)
    {
        if (other is null || other.Type != Type || other.ElementType != ElementType)
        {
            return false;
        }

        if (Value is Array a && other.Value is Array b)
        {
            if (a.Length != b.Length)
            {
                return false;
            }

            for (var i = 0; i < a.Length; i++)
            {
                if (!Equals(a.GetValue(i), b.GetValue(i)))
                {
                    return false;
                }
            }

            return true;
        }

        return Equals(Value, other.Value);
    }

    /// <inheritdoc />
    public override bool Equals(object? obj) => obj is GgufValue v && Equals(v);

    /// <inheritdoc />
    public override int GetHashCode() => HashCode.Combine(Type, ElementType, Value is Array a ? a.Length : Value.GetHashCode());

    /// <inheritdoc />
    public override string ToString() => Value switch
    {
        Array a => $"[{ElementType} x {a.Length}]",
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => Value.ToString() ?? string.Empty,
    };

    private static GgufValue Array(GgufValueType elementType, Array values) =>
        new(GgufValueType.Array, elementType, values ?? throw new ArgumentNullException(nameof(values)));

    private InvalidOperationException WrongType(string wanted) =>
        new($"GGUF value is {(IsArray ? $"an array of {ElementType}" : Type.ToString())}, not {wanted}");
}
