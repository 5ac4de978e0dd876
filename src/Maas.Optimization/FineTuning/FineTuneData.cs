using Maas.Core.Training;

namespace Maas.Optimization.FineTuning;

/// <summary>The pictures of a fine-tune dataset as the trainer reads them, its split, and the test rows' accuracy per model.</summary>
public sealed record FineTuneData(float[] Images, int[] Labels, NetworkShape Shape, int[] Train, int[] Validation, int[] Test, int Skipped)
{
    /// <summary>The values of one picture ([channels, height, width]).</summary>
    public float[] Picture(int row)
    {
        var size = (int)Shape.Size;
        return Images.AsSpan(row * size, size).ToArray();
    }
}
