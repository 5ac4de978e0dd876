namespace Maas.Core.Formats.Onnx;

/// <summary>One dimension of a tensor shape: a fixed size, or symbolic (Value -1, with the name when the model gives one).</summary>
public readonly record struct OnnxDimension(long Value, string? Name = null)
{
    /// <summary>A dimension whose size is only known at run time.</summary>
    public bool IsSymbolic => Value < 0;

    /// <summary>A fixed dimension.</summary>
    public static OnnxDimension Fixed(long value) =>
        value >= 0 ? new(value) : throw new ArgumentOutOfRangeException(nameof(value), value, "a fixed dimension is >= 0");

    /// <summary>A named symbolic dimension such as "batch".</summary>
    public static OnnxDimension Symbolic(string name) => new(-1, name);

    /// <summary>A dimension of unknown size without a name.</summary>
    public static OnnxDimension Unknown { get; } = new(-1);

    /// <summary>Lets shapes be written as <c>[2, 3]</c>.</summary>
    public static implicit operator OnnxDimension(long value) => Fixed(value);

    /// <summary>Lets symbolic dimensions be written as <c>["batch", 3]</c>.</summary>
    public static implicit operator OnnxDimension(string name) => Symbolic(name);

    /// <inheritdoc />
    public override string ToString() => IsSymbolic ? Name ?? "?" : Value.ToString(System.Globalization.CultureInfo.InvariantCulture);
}
