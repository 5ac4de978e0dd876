using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using Maas.Core.TensorServing;

namespace Maas.Server.TensorInference.Rest;

/// <summary>Reads tensor data from JSON arrays (flat or nested, row-major) and writes it back, for every datatype.</summary>
internal static class TensorJson
{
    /// <summary>Starts a tensor's object with its name, datatype and shape (the caller writes the rest and ends it).</summary>
    public static void WriteStart(Utf8JsonWriter writer, string name, TensorDataType type, long[] shape)
    {
        writer.WriteStartObject();
        writer.WriteString("name", name);
        writer.WriteString("datatype", type.Name());
        writer.WriteStartArray("shape");
        foreach (var d in shape)
        {
            writer.WriteNumberValue(d);
        }

        writer.WriteEndArray();
    }

    /// <summary>
    /// Refuses nested data that is not a box: values beside arrays at one level, or sibling arrays of different lengths
    /// (<c>[[1, 2], [3]]</c>). Such data has no row-major order, and a matching value count would hide the mistake.
    /// Any box is taken, as Triton and numpy's reshape take it: only the count has to match the shape.
    /// </summary>
    /// <returns>The number of values.</returns>
    public static long CountBoxedValues(string name, JsonElement data)
    {
        // The lengths along the first path down; every other path has to match them.
        var lengths = new List<int>();
        for (var e = data; e.ValueKind == JsonValueKind.Array; e = e.GetArrayLength() == 0 ? default : e[0])
        {
            lengths.Add(e.GetArrayLength());
        }

        var at = new int[lengths.Count];
        Check(data, 0);
        long count = 1;
        foreach (var length in lengths)
        {
            count *= length;
        }

        return count;

        void Check(JsonElement array, int depth)
        {
            if (array.GetArrayLength() != lengths[depth])
            {
                throw InferenceErrors.Invalid($"input '{name}': \"data\" is ragged: {Path(depth)} has length {array.GetArrayLength()} where its siblings have " +
                    $"length {lengths[depth]}");
            }

            at[depth] = 0;
            foreach (var item in array.EnumerateArray())
            {
                var nested = item.ValueKind == JsonValueKind.Array;
                if (nested != (depth + 1 < lengths.Count))
                {
                    throw InferenceErrors.Invalid($"input '{name}': \"data\" is ragged: {Path(depth + 1)} is {(nested ? "an array" : Kind(item))} where its siblings are " +
                        $"{(nested ? "values" : "arrays")}");
                }

                if (nested)
                {
                    Check(item, depth + 1);
                }

                at[depth]++;
            }
        }

        // "data[1][0]": the indices above the given depth, written only for the error.
        string Path(int depth) => "data" + string.Concat(at.Take(depth).Select(i => $"[{i}]"));
    }

    /// <summary>Fills a new tensor from JSON data; the caller checked the shape and the element limit.</summary>
    public static Tensor Read(string name, TensorDataType type, long[] shape, long count, JsonElement data)
    {
        if (data.ValueKind != JsonValueKind.Array)
        {
            throw InferenceErrors.Invalid($"input '{name}': \"data\" must be an array (flat or nested, row-major), not {Kind(data)}");
        }

        var found = CountBoxedValues(name, data);
        if (found != count)
        {
            throw InferenceErrors.Invalid($"input '{name}': \"data\" holds {found} values but shape {TensorShape.Format(shape)} needs {count}");
        }

        if (type == TensorDataType.Bytes)
        {
            var strings = new List<byte[]>((int)Math.Min(count, 1 << 20));
            Walk(data, e => strings.Add(e.ValueKind == JsonValueKind.String
                ? Encoding.UTF8.GetBytes(e.GetString()!)
                : throw InferenceErrors.Invalid($"input '{name}': BYTES element {strings.Count} must be a string, not {Kind(e)}")));
            return Tensor.FromByteStrings(name, shape, strings);
        }

        var tensor = Tensor.Allocate(name, type, shape);
        try
        {
            var index = 0;
            var memory = tensor.Data;
            Walk(data, e =>
            {
                WriteElement(name, type, e, memory.Span, index);
                index++;
            });
            return tensor;
        }
        catch
        {
            tensor.Dispose();
            throw;
        }
    }

    private static void Walk(JsonElement array, Action<JsonElement> leaf)
    {
        foreach (var item in array.EnumerateArray())
        {
            if (item.ValueKind == JsonValueKind.Array)
            {
                Walk(item, leaf);
            }
            else
            {
                leaf(item);
            }
        }
    }

    /// <summary>Converts one JSON value into element <paramref name="index"/> of <paramref name="dest"/>.</summary>
    public static void WriteElement(string name, TensorDataType type, JsonElement e, Span<byte> dest, int index)
    {
        switch (type)
        {
            case TensorDataType.Bool:
                dest[index] = e.ValueKind switch
                {
                    JsonValueKind.True => 1,
                    JsonValueKind.False => 0,
                    _ => throw Bad(name, index, e, "true or false"),
                };
                break;
            case TensorDataType.UInt8:
                dest[index] = (byte)Integer(name, index, e, byte.MinValue, byte.MaxValue, "UINT8");
                break;
            case TensorDataType.Int8:
                dest[index] = (byte)(sbyte)Integer(name, index, e, sbyte.MinValue, sbyte.MaxValue, "INT8");
                break;
            case TensorDataType.UInt16:
                BinaryPrimitives.WriteUInt16LittleEndian(dest[(index * 2)..], (ushort)Integer(name, index, e, ushort.MinValue, ushort.MaxValue, "UINT16"));
                break;
            case TensorDataType.Int16:
                BinaryPrimitives.WriteInt16LittleEndian(dest[(index * 2)..], (short)Integer(name, index, e, short.MinValue, short.MaxValue, "INT16"));
                break;
            case TensorDataType.UInt32:
                BinaryPrimitives.WriteUInt32LittleEndian(dest[(index * 4)..], (uint)Integer(name, index, e, uint.MinValue, uint.MaxValue, "UINT32"));
                break;
            case TensorDataType.Int32:
                BinaryPrimitives.WriteInt32LittleEndian(dest[(index * 4)..], (int)Integer(name, index, e, int.MinValue, int.MaxValue, "INT32"));
                break;
            case TensorDataType.Int64:
                BinaryPrimitives.WriteInt64LittleEndian(dest[(index * 8)..], Integer(name, index, e, long.MinValue, long.MaxValue, "INT64"));
                break;
            case TensorDataType.UInt64:
                BinaryPrimitives.WriteUInt64LittleEndian(dest[(index * 8)..], e.ValueKind == JsonValueKind.Number && e.TryGetUInt64(out var u)
                    ? u
                    : throw Bad(name, index, e, "an integer in the range of UINT64"));
                break;
            case TensorDataType.FP16:
                BinaryPrimitives.WriteHalfLittleEndian(dest[(index * 2)..], Narrow(name, index, e, "FP16", "65504", d => (Half)d, Half.IsFinite));
                break;
            case TensorDataType.BF16:
                BinaryPrimitives.WriteUInt16LittleEndian(dest[(index * 2)..],
                    Narrow(name, index, e, "BF16", "3.3895314E+38", d => ToBFloat16((float)d), b => (b & 0x7F80) != 0x7F80));
                break;
            case TensorDataType.FP32:
                BinaryPrimitives.WriteSingleLittleEndian(dest[(index * 4)..], Narrow(name, index, e, "FP32", "3.4028235E+38", d => (float)d, float.IsFinite));
                break;
            case TensorDataType.FP64:
                BinaryPrimitives.WriteDoubleLittleEndian(dest[(index * 8)..], Float(name, index, e, "FP64", "1.7976931348623157E+308"));
                break;
            default:
                throw new InvalidOperationException($"no JSON conversion for {type}");
        }
    }

    private static long Integer(string name, int index, JsonElement e, long min, long max, string type)
    {
        if (e.ValueKind == JsonValueKind.Number && e.TryGetInt64(out var v) && v >= min && v <= max)
        {
            return v;
        }

        throw Bad(name, index, e, $"an integer in the range of {type} ({min}..{max})");
    }

    // A JSON number must fit the datatype: one that rounds past its range would become an infinity the caller never
    // sent (1e39 as FP32, 70000 as FP16), and one past double's (1e400) has no value at all. Infinities and NaN are asked
    // for by name. Values that round to the largest finite one (3.4028235E+38 as written for FP32) are kept.
    private static T Narrow<T>(string name, int index, JsonElement e, string type, string max, Func<double, T> convert, Func<T, bool> isFinite)
    {
        var d = Float(name, index, e, type, max);
        var narrowed = convert(d);
        return isFinite(narrowed) || !double.IsFinite(d) ? narrowed : throw OutOfRange(name, index, e, type, max);
    }

    private static InferenceException OutOfRange(string name, int index, JsonElement e, string type, string max) =>
        Bad(name, index, e, $"a number in the range of {type} (±{max}; infinities are written \"Infinity\" and \"-Infinity\")");

    private static double Float(string name, int index, JsonElement e, string type, string max)
    {
        if (e.ValueKind == JsonValueKind.Number)
        {
            return e.TryGetDouble(out var d) && double.IsFinite(d) ? d : throw OutOfRange(name, index, e, type, max);
        }

        // JSON has no NaN or infinities; accept them spelled as strings, the way the responses write them.
        if (e.ValueKind == JsonValueKind.String)
        {
            switch (e.GetString())
            {
                case "NaN" or "nan":
                    return double.NaN;
                case "Infinity" or "+Infinity" or "inf":
                    return double.PositiveInfinity;
                case "-Infinity" or "-inf":
                    return double.NegativeInfinity;
            }
        }

        throw Bad(name, index, e, "a number");
    }

    private static InferenceException Bad(string name, int index, JsonElement e, string expected) =>
        InferenceErrors.Invalid($"input '{name}': element {index} is {Describe(e)}, expected {expected}");

    private static string Describe(JsonElement e)
    {
        var raw = e.GetRawText();
        return raw.Length > 40 ? raw[..37] + "..." : raw;
    }

    /// <summary>
    /// The caller's error for System.Text.Json refusing to read a request string: an escaped lone UTF-16 surrogate
    /// ("\ud800") is valid JSON but no text, and GetString and property names throw InvalidOperationException on it.
    /// Request parsing catches that exception around its reading (nothing else there throws it).
    /// </summary>
    public static InferenceException UnreadableText(InvalidOperationException ex) =>
        InferenceErrors.Invalid($"the request body holds a string that cannot be read as text: {ex.Message}");

    /// <summary>The JSON kind as a word for messages.</summary>
    public static string Kind(JsonElement e) => e.ValueKind switch
    {
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "an array",
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "a number",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        JsonValueKind.Null => "null",
        _ => "nothing",
    };

    /// <summary>Rounds a float to bfloat16 (round to nearest even, NaN kept quiet).</summary>
    public static ushort ToBFloat16(float value)
    {
        var bits = BitConverter.SingleToUInt32Bits(value);
        if (float.IsNaN(value))
        {
            return (ushort)((bits >> 16) | 0x40);
        }

        var rounding = 0x7FFFu + ((bits >> 16) & 1);
        return (ushort)((bits + rounding) >> 16);
    }

    /// <summary>Widens a bfloat16 to float.</summary>
    public static float FromBFloat16(ushort value) => BitConverter.UInt32BitsToSingle((uint)value << 16);

    /// <summary>Writes all elements of a tensor as a flat JSON array.</summary>
    public static void WriteFlat(Utf8JsonWriter writer, Tensor tensor)
    {
        writer.WriteStartArray();
        if (tensor.DataType == TensorDataType.Bytes)
        {
            foreach (var e in tensor.GetByteElements())
            {
                WriteString(writer, e.Span);
            }
        }
        else
        {
            var data = tensor.Data.Span;
            for (var i = 0; i < tensor.ElementCount; i++)
            {
                WriteValue(writer, tensor.DataType, data, (int)i);
            }
        }

        writer.WriteEndArray();
    }

    /// <summary>Writes a tensor as nested arrays following its shape (a scalar as a bare value).</summary>
    public static void WriteNested(Utf8JsonWriter writer, Tensor tensor, int skipLeadingDims = 0)
    {
        var strings = tensor.DataType == TensorDataType.Bytes ? tensor.GetByteElements() : null;
        var index = 0;
        WriteLevel(writer, tensor, strings, tensor.Shape.AsSpan(skipLeadingDims), ref index);
    }

    private static void WriteLevel(Utf8JsonWriter writer, Tensor tensor, List<ReadOnlyMemory<byte>>? strings, ReadOnlySpan<long> dims, ref int index)
    {
        if (dims.Length == 0)
        {
            if (strings is not null)
            {
                WriteString(writer, strings[index].Span);
            }
            else
            {
                WriteValue(writer, tensor.DataType, tensor.Data.Span, index);
            }

            index++;
            return;
        }

        writer.WriteStartArray();
        for (long i = 0; i < dims[0]; i++)
        {
            WriteLevel(writer, tensor, strings, dims[1..], ref index);
        }

        writer.WriteEndArray();
    }

    private static void WriteString(Utf8JsonWriter writer, ReadOnlySpan<byte> utf8)
    {
        if (System.Text.Unicode.Utf8.IsValid(utf8))
        {
            writer.WriteStringValue(utf8);
        }
        else
        {
            writer.WriteStringValue(Encoding.UTF8.GetString(utf8)); // lossy for bytes that are not text
        }
    }

    private static void WriteValue(Utf8JsonWriter writer, TensorDataType type, ReadOnlySpan<byte> data, int i)
    {
        switch (type)
        {
            case TensorDataType.Bool:
                writer.WriteBooleanValue(data[i] != 0);
                break;
            case TensorDataType.UInt8:
                writer.WriteNumberValue(data[i]);
                break;
            case TensorDataType.Int8:
                writer.WriteNumberValue((sbyte)data[i]);
                break;
            case TensorDataType.UInt16:
                writer.WriteNumberValue(BinaryPrimitives.ReadUInt16LittleEndian(data[(i * 2)..]));
                break;
            case TensorDataType.Int16:
                writer.WriteNumberValue(BinaryPrimitives.ReadInt16LittleEndian(data[(i * 2)..]));
                break;
            case TensorDataType.UInt32:
                writer.WriteNumberValue(BinaryPrimitives.ReadUInt32LittleEndian(data[(i * 4)..]));
                break;
            case TensorDataType.Int32:
                writer.WriteNumberValue(BinaryPrimitives.ReadInt32LittleEndian(data[(i * 4)..]));
                break;
            case TensorDataType.UInt64:
                writer.WriteNumberValue(BinaryPrimitives.ReadUInt64LittleEndian(data[(i * 8)..]));
                break;
            case TensorDataType.Int64:
                writer.WriteNumberValue(BinaryPrimitives.ReadInt64LittleEndian(data[(i * 8)..]));
                break;
            case TensorDataType.FP16:
                WriteFloat(writer, (float)BinaryPrimitives.ReadHalfLittleEndian(data[(i * 2)..]));
                break;
            case TensorDataType.BF16:
                WriteFloat(writer, FromBFloat16(BinaryPrimitives.ReadUInt16LittleEndian(data[(i * 2)..])));
                break;
            case TensorDataType.FP32:
                WriteFloat(writer, BinaryPrimitives.ReadSingleLittleEndian(data[(i * 4)..]));
                break;
            case TensorDataType.FP64:
                var d = BinaryPrimitives.ReadDoubleLittleEndian(data[(i * 8)..]);
                if (double.IsFinite(d))
                {
                    writer.WriteNumberValue(d);
                }
                else
                {
                    WriteNonFinite(writer, d);
                }

                break;
            default:
                throw new InvalidOperationException($"no JSON conversion for {type}");
        }
    }

    private static void WriteFloat(Utf8JsonWriter writer, float f)
    {
        if (float.IsFinite(f))
        {
            writer.WriteNumberValue(f);
        }
        else
        {
            WriteNonFinite(writer, f);
        }
    }

    private static void WriteNonFinite(Utf8JsonWriter writer, double d) =>
        writer.WriteStringValue(double.IsNaN(d) ? "NaN" : d > 0 ? "Infinity" : "-Infinity");
}
