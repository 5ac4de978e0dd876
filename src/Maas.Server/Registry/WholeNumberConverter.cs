using System.Buffers;
using System.Numerics;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

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
