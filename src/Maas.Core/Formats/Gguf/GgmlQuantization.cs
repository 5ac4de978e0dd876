using System.Buffers.Binary;

namespace Maas.Core.Formats.Gguf;

/// <summary>Encodes float data into the ggml tensor formats the writer supports (F32, F16, BF16, Q8_0) and back.</summary>
public static class GgmlQuantization
{
    /// <summary>Elements per Q8_0 block (QK8_0).</summary>
    public const int Q8_0BlockSize = 32;

    /// <summary>Bytes per Q8_0 block: an fp16 scale and 32 signed bytes.</summary>
    public const int Q8_0BlockBytes = 34;

    /// <summary>Encodes <paramref name="source"/> as <paramref name="type"/> into <paramref name="destination"/>; returns bytes written.</summary>
    public static int Encode(GgmlType type, ReadOnlySpan<float> source, Span<byte> destination)
    {
        switch (type)
        {
            case GgmlType.F32:
                Require(destination, source.Length * 4);
                for (var i = 0; i < source.Length; i++)
                {
                    BinaryPrimitives.WriteSingleLittleEndian(destination[(i * 4)..], source[i]);
                }

                return source.Length * 4;
            case GgmlType.F16:
                Require(destination, source.Length * 2);
                for (var i = 0; i < source.Length; i++)
                {
                    BinaryPrimitives.WriteHalfLittleEndian(destination[(i * 2)..], (Half)source[i]);
                }

                return source.Length * 2;
            case GgmlType.BF16:
                Require(destination, source.Length * 2);
                for (var i = 0; i < source.Length; i++)
                {
                    BinaryPrimitives.WriteUInt16LittleEndian(destination[(i * 2)..], ToBFloat16(source[i]));
                }

                return source.Length * 2;
            case GgmlType.Q8_0:
                return QuantizeQ8_0(source, destination);
            default:
                throw new NotSupportedException($"writing {GgmlTypeTraits.Name(type)} tensors is not supported (F32, F16, BF16 and Q8_0 are)");
        }
    }

    /// <summary>Bytes <paramref name="count"/> elements take when encoded as <paramref name="type"/>.</summary>
    public static int EncodedSize(GgmlType type, int count) =>
        checked(count / GgmlTypeTraits.BlockSize(type) * GgmlTypeTraits.BlockBytes(type));

    /// <summary>Quantises to Q8_0 as ggml's reference does: per block d = max|x|/127, q = round(x/d).</summary>
    public static int QuantizeQ8_0(ReadOnlySpan<float> source, Span<byte> destination)
    {
        if (source.Length % Q8_0BlockSize != 0)
        {
            throw new ArgumentException($"Q8_0 needs a multiple of {Q8_0BlockSize} values, got {source.Length}", nameof(source));
        }

        var blocks = source.Length / Q8_0BlockSize;
        Require(destination, blocks * Q8_0BlockBytes);
        for (var b = 0; b < blocks; b++)
        {
            var x = source.Slice(b * Q8_0BlockSize, Q8_0BlockSize);
            var block = destination.Slice(b * Q8_0BlockBytes, Q8_0BlockBytes);
            var amax = 0f;
            foreach (var v in x)
            {
                amax = MathF.Max(amax, MathF.Abs(v));
            }

            var d = amax / 127f;
            var id = d != 0 ? 1f / d : 0f;
            BinaryPrimitives.WriteHalfLittleEndian(block, (Half)d);
            for (var i = 0; i < Q8_0BlockSize; i++)
            {
                block[2 + i] = (byte)(sbyte)MathF.Round(x[i] * id, MidpointRounding.AwayFromZero);
            }
        }

        return blocks * Q8_0BlockBytes;
    }

    /// <summary>Decodes Q8_0 blocks back to floats.</summary>
    public static void DequantizeQ8_0(ReadOnlySpan<byte> source, Span<float> destination)
    {
        var blocks = source.Length / Q8_0BlockBytes;
        if (destination.Length < blocks * Q8_0BlockSize)
        {
            throw new ArgumentException("destination too small", nameof(destination));
        }

        for (var b = 0; b < blocks; b++)
        {
            var block = source.Slice(b * Q8_0BlockBytes, Q8_0BlockBytes);
            var d = (float)BinaryPrimitives.ReadHalfLittleEndian(block);
            for (var i = 0; i < Q8_0BlockSize; i++)
            {
                destination[(b * Q8_0BlockSize) + i] = (sbyte)block[2 + i] * d;
            }
        }
    }

    // Round to nearest even on the dropped 16 bits; NaN stays a quiet NaN.
    private static ushort ToBFloat16(float value)
    {
        var bits = BitConverter.SingleToUInt32Bits(value);
        if ((bits & 0x7fffffff) > 0x7f800000)
        {
            return (ushort)((bits >> 16) | 64);
        }

        return (ushort)((bits + (0x7fff + ((bits >> 16) & 1))) >> 16);
    }

    private static void Require(Span<byte> destination, int bytes)
    {
        if (destination.Length < bytes)
        {
            throw new ArgumentException($"destination holds {destination.Length} bytes, {bytes} needed", nameof(destination));
        }
    }
}
