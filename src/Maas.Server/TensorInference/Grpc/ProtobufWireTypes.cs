using Google.Protobuf.Reflection;
using Maas.Core.TensorServing;

namespace Maas.Server.TensorInference.Grpc;

/// <summary>
/// Checks that the known fields of a protobuf message, and of every message inside it, come with a wire type their
/// declared type allows. The generated parsers keep a known field with another wire type as an unknown field: it is
/// dropped, and the call answered as if the field had not been sent.
/// </summary>
internal static class ProtobufWireTypes
{
    // Deeper than any message of the inference protocol nests; a bound for descriptors that refer to themselves.
    private const int MaxDepth = 32;

    /// <summary>
    /// Walks <paramref name="message"/>, a <paramref name="descriptor"/>, and the messages in its fields; the first known
    /// field with a wrong wire type is INVALID_ARGUMENT naming it by its path (<c>inputs[0].shape</c>) and number.
    /// </summary>
    public static void Check(ReadOnlySpan<byte> message, MessageDescriptor descriptor) =>
        Walk(message, descriptor, descriptor.Name, path: "", offset: 0, depth: 0);

    private static void Walk(ReadOnlySpan<byte> message, MessageDescriptor descriptor, string root, string path, int offset, int depth)
    {
        if (depth > MaxDepth)
        {
            throw InferenceErrors.Invalid($"malformed {root}: messages nested more than {MaxDepth} deep at {path}");
        }

        var mapEntry = descriptor.GetOptions()?.MapEntry == true;
        Dictionary<int, int>? indexes = null;
        var position = 0;
        while (position < message.Length)
        {
            var start = position;
            var tag = GrpcFraming.ReadVarint(message, ref position);
            var wireType = (int)(tag & 7);
            var field = tag >> 3 is > 0 and <= int.MaxValue ? descriptor.FindFieldByNumber((int)(tag >> 3)) : null;
            if (field is not null && !Allows(field, wireType))
            {
                throw InferenceErrors.Invalid(
                    $"malformed {root}: field {field.FieldNumber} ({NameOf(field, mapEntry, path)}) has wire type {wireType} at byte {offset + start}, but " +
                    $"it is {Expected(field)}");
            }

            var value = GrpcFraming.SkipValue(message, ref position, wireType, root, offset + start);
            if (wireType == 2 && field is { FieldType: FieldType.Message })
            {
                var payload = message[value];
                var name = NameOf(field, mapEntry, path);
                var child = field.IsMap ? $"{name}[{MapKey(payload)}]"
                    : field.IsRepeated ? $"{name}[{Next(ref indexes, field.FieldNumber)}]"
                    : name;
                Walk(payload, field.MessageType, root, child, offset + value.Start.Value, depth + 1);
            }
        }
    }

    // Named only when needed (an error, a message inside): unpacked repeated numbers are walked one by one.
    // A map entry's value is named by the map and its key: parameters["timeout"].int64_param.
    private static string NameOf(FieldDescriptor field, bool mapEntry, string path) =>
        mapEntry && field.FieldNumber == 2 ? path : path.Length == 0 ? field.Name : $"{path}.{field.Name}";

    private static int Next(ref Dictionary<int, int>? indexes, int field)
    {
        indexes ??= [];
        indexes.TryGetValue(field, out var index);
        indexes[field] = index + 1;
        return index;
    }

    // The key of a map entry with a string key, quoted (its first 64 bytes); else "?" (the walk of the entry reports what is wrong with it).
    private static string MapKey(ReadOnlySpan<byte> entry)
    {
        var position = 0;
        try
        {
            while (position < entry.Length)
            {
                var tag = GrpcFraming.ReadVarint(entry, ref position);
                if ((tag & 7) != 2)
                {
                    return "?";
                }

                var length = GrpcFraming.ReadVarint(entry, ref position);
                if (length > (ulong)(entry.Length - position))
                {
                    return "?";
                }

                if (tag >> 3 == 1)
                {
                    var key = System.Text.Encoding.UTF8.GetString(entry.Slice(position, (int)Math.Min(length, 64)));
                    return length > 64 ? $"\"{key}...\"" : $"\"{key}\"";
                }

                position += (int)length;
            }
        }
        catch (InferenceException)
        {
            // A truncated entry: the walk of it says so.
        }

        return "?";
    }

    private static bool Allows(FieldDescriptor field, int wireType) =>
        wireType == WireType(field.FieldType) || (wireType == 2 && field.IsRepeated && Packable(field.FieldType));

    // Repeated numbers may come packed (one length-delimited run) or one by one; parsers accept both.
    private static bool Packable(FieldType type) => type is not (FieldType.String or FieldType.Bytes or FieldType.Message or FieldType.Group);

    private static int WireType(FieldType type) => type switch
    {
        FieldType.Double or FieldType.Fixed64 or FieldType.SFixed64 => 1,
        FieldType.Float or FieldType.Fixed32 or FieldType.SFixed32 => 5,
        FieldType.String or FieldType.Bytes or FieldType.Message => 2,
        FieldType.Group => 3,
        _ => 0, // the varints: (u)int32/64, sint32/64, bool, enum
    };

    private static string Expected(FieldDescriptor field)
    {
        var natural = WireType(field.FieldType) switch
        {
            0 => "a varint (wire type 0)",
            1 => "64-bit (wire type 1)",
            5 => "32-bit (wire type 5)",
            2 => "length-delimited (wire type 2)",
            var other => $"wire type {other}",
        };
        return field.IsRepeated && Packable(field.FieldType) ? $"{natural} or packed (wire type 2)" : natural;
    }
}
