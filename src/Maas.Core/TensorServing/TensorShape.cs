using System.Text;

namespace Maas.Core.TensorServing;

/// <summary>Shape arithmetic with the checks every protocol needs.</summary>
public static class TensorShape
{
    /// <summary>The product of the dimensions; throws an invalid-input error for negative dimensions or overflow.</summary>
    public static long ElementCount(string name, ReadOnlySpan<long> shape)
    {
        long count = 1;
        foreach (var d in shape)
        {
            if (d < 0)
            {
                throw new InferenceException(InferenceErrorKind.InvalidInput, $"tensor '{name}': shape {Format(shape)} has a negative dimension");
            }

            try
            {
                count = checked(count * d);
            }
            catch (OverflowException)
            {
                throw new InferenceException(InferenceErrorKind.InvalidInput, $"tensor '{name}': shape {Format(shape)} holds more elements than can be counted");
            }
        }

        return count;
    }

    /// <summary>Formats a shape as "[1,3,224,224]" (dynamic dimensions as -1).</summary>
    public static string Format(ReadOnlySpan<long> shape)
    {
        var sb = new StringBuilder("[");
        for (var i = 0; i < shape.Length; i++)
        {
            if (i > 0)
            {
                sb.Append(',');
            }

            sb.Append(shape[i]);
        }

        return sb.Append(']').ToString();
    }
}
