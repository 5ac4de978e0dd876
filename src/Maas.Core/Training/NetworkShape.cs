namespace Maas.Core.Training;

/// <summary>The shape of the activations after a layer: [channels, height, width] for images, [features] once flat.</summary>
public sealed record NetworkShape(int[] Dims)
{
    /// <summary>True once flattened (or after a dense layer).</summary>
    public bool Flat => Dims.Length == 1;

    /// <summary>Values per example.</summary>
    public long Size => Dims.Aggregate(1L, (a, b) => a * b);

    /// <inheritdoc />
    public override string ToString() => "[" + string.Join(", ", Dims) + "]";
}
