namespace Maas.Core.Formats;

/// <summary>Tells a model's format from the first bytes of its file; the format's reader does the full check.</summary>
public static class ModelFormatDetector
{
    /// <summary>How many leading bytes <see cref="Detect"/> looks at, at most.</summary>
    public const int HeadLength = 16;

    /// <summary>The format whose signature <paramref name="head"/> starts with, or null when it is neither.</summary>
    public static ModelFormat? Detect(ReadOnlySpan<byte> head)
    {
        if (head.Length >= 4 && head[..4].SequenceEqual("GGUF"u8))
        {
            return ModelFormat.Gguf;
        }

        return LooksLikeModelProto(head) ? ModelFormat.Onnx : null;
    }

    /// <summary>Reads the head of a file and detects its format.</summary>
    public static ModelFormat? Detect(string path)
    {
        Span<byte> head = stackalloc byte[HeadLength];
        using var file = File.OpenRead(path);
        var read = file.ReadAtLeast(head, head.Length, throwOnEndOfStream: false);
        return Detect(head[..read]);
    }

    // A protobuf has no magic number, so check that the first field is one ModelProto defines with the wire type
    // the schema gives it, and that its value is plausible. Exporters write ir_version (field 1) first in practice.
    private static bool LooksLikeModelProto(ReadOnlySpan<byte> head)
    {
        if (!TryReadVarint(head, out var tag, out var used) || tag > uint.MaxValue)
        {
            return false;
        }

        var field = (int)(tag >> 3);
        var wireType = (int)(tag & 7);
        var rest = head[used..];
        switch (field)
        {
            case 1: // ir_version
                return wireType == 0 && TryReadVarint(rest, out var ir, out _) && ir is >= 1 and <= 64;
            case 5: // model_version
                return wireType == 0 && TryReadVarint(rest, out _, out _);
            case 2 or 3 or 4 or 6 or 7 or 8 or 14 or 20 or 25: // strings, graph, opsets, metadata, training, functions
                return wireType == 2 && TryReadVarint(rest, out var length, out _) && length < (1UL << 40);
            default:
                return false;
        }
    }

    private static bool TryReadVarint(ReadOnlySpan<byte> bytes, out ulong value, out int used)
    {
        value = 0;
        for (used = 0; used < bytes.Length && used < 10; used++)
        {
            value |= (ulong)(bytes[used] & 0x7F) << (7 * used);
            if ((bytes[used] & 0x80) == 0)
            {
                used++;
                return true;
            }
        }

        return false;
    }
}
