using System.Globalization;
using System.Numerics;
using System.Text.Json;
using Maas.Core.Registry;

namespace Maas.Server.Registry;

/// <summary>A whole number too large (or small) for its field; the serializer adds the field's path.</summary>
internal sealed class WholeNumberOutOfRangeException(string raw, bool tooLarge, BigInteger bound)
    : JsonException($"{RegistryNames.Shorten(raw)} is out of range")
{
    /// <summary>The sentence for the caller: the value, the field and the range it takes.</summary>
    public string Describe(string field) => tooLarge
        ? $"{RegistryNames.Shorten(raw)} is too large: {field} takes a whole number of at most {bound}"
        : $"{RegistryNames.Shorten(raw)} is too small: {field} takes a whole number of at least {bound}";

    /// <summary>The exception for <paramref name="raw"/> (a JSON number) past one end of [min, max]; null when it is no whole number or fits.</summary>
    public static WholeNumberOutOfRangeException? Of(string raw, BigInteger min, BigInteger max)
    {
        // 3e9: a whole number only if it has no fraction, and out of range only if past one end.
        bool? large = BigInteger.TryParse(raw, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var whole)
            ? whole > max ? true : whole < min ? false : null
            : double.TryParse(raw, NumberStyles.Float, CultureInfo.InvariantCulture, out var number) && Math.Floor(number) == number
                ? number > (double)max ? true : number < (double)min ? false : null
                : null;
        return large is { } l ? new WholeNumberOutOfRangeException(raw, l, l ? max : min) : null;
    }
}
