using System.Buffers;
using System.Globalization;
using System.Numerics;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Maas.Core.Registry;

namespace Maas.Server.Registry;

/// <summary>
/// Reads a whole-number field of a request body as the serializer's own converter does, except that a whole number
/// past the field's range throws <see cref="WholeNumberOutOfRangeException"/>, which says so (the serializer's own
/// error only says "could not be converted"). Anything else that is not a number of the field's type fails as it would
/// without this converter.
/// </summary>
internal sealed class WholeNumberConverter<T>(WholeNumberConverter<T>.TryRead tryRead) : JsonConverter<T>
    where T : struct, IBinaryInteger<T>, IMinMaxValue<T>
{
    /// <summary>The reader's own method for <typeparamref name="T"/> (<see cref="Utf8JsonReader.TryGetInt32(out int)"/>, ...).</summary>
    public delegate bool TryRead(ref Utf8JsonReader reader, out T value);

    /// <inheritdoc />
    public override T Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        if (reader.TokenType == JsonTokenType.Number)
        {
            if (tryRead(ref reader, out var value))
            {
                return value;
            }

            var raw = Encoding.UTF8.GetString(reader.HasValueSequence ? reader.ValueSequence.ToArray() : reader.ValueSpan);
            if (WholeNumberOutOfRangeException.Of(raw, BigInteger.CreateChecked(T.MinValue), BigInteger.CreateChecked(T.MaxValue)) is { } outOfRange)
            {
                throw outOfRange;
            }
        }

        // Without a message the serializer words it as for its own converter ("could not be converted to ...").
        throw new JsonException();
    }

    /// <inheritdoc />
    public override void Write(Utf8JsonWriter writer, T value, JsonSerializerOptions options)
    {
        if (T.IsNegative(value))
        {
            writer.WriteNumberValue(long.CreateTruncating(value));
        }
        else
        {
            writer.WriteNumberValue(ulong.CreateTruncating(value));
        }
    }
}

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
