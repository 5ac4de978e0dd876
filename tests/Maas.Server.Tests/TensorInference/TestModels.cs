using System.Buffers.Binary;
using Maas.Core.Formats.Onnx;
using Maas.Core.TensorServing;
using Maas.Runtimes.Onnx.Serving;

namespace Maas.Server.Tests.TensorInference;

/// <summary>Models the inference tests write with the project's own ONNX writer, and sample data for every datatype.</summary>
internal static class TestModels
{
    /// <summary>Every protocol datatype ONNX Runtime can feed and fetch through Identity.</summary>
    public static readonly TensorDataType[] IdentityTypes =
    [
        TensorDataType.Bool, TensorDataType.UInt8, TensorDataType.UInt16, TensorDataType.UInt32, TensorDataType.UInt64,
        TensorDataType.Int8, TensorDataType.Int16, TensorDataType.Int32, TensorDataType.Int64,
        TensorDataType.FP16, TensorDataType.BF16, TensorDataType.FP32, TensorDataType.FP64, TensorDataType.Bytes,
    ];

    /// <summary>An Identity model "input" → "output" of shape [batch, 3].</summary>
    public static byte[] Identity(TensorDataType type) =>
        OnnxModelWriter.Identity(OnnxBackend.ToOnnxType(type), "batch", 3).ToBytes();

    /// <summary>The MLP used for batching tests and the benchmark (seeded weights, dynamic batch).</summary>
    public static byte[] Mlp(int inputs, int[] hidden, int outputs, int seed = 7) =>
        OnnxModelWriter.Mlp(inputs, hidden, outputs, seed).ToBytes();

    /// <summary>Writes bytes to a fresh file under <paramref name="folder"/>.</summary>
    public static string Save(string folder, string name, byte[] bytes)
    {
        var path = Path.Combine(folder, name);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    /// <summary>JSON values for 2 rows of 3 elements of a datatype (the edges of its range where it has them).</summary>
    public static object[] JsonValues(TensorDataType type) => type switch
    {
        TensorDataType.Bool => [true, false, true, false, false, true],
        TensorDataType.UInt8 => [0, 1, 255, 7, 128, 3],
        TensorDataType.UInt16 => [0, 1, 65535, 7, 300, 3],
        TensorDataType.UInt32 => [0, 1, 4294967295L, 7, 70000, 3],
        TensorDataType.UInt64 => [0UL, 1UL, 18446744073709551615UL, 7UL, 1UL << 40, 3UL],
        TensorDataType.Int8 => [-128, 127, 0, -1, 5, 3],
        TensorDataType.Int16 => [-32768, 32767, 0, -1, 5, 3],
        TensorDataType.Int32 => [int.MinValue, int.MaxValue, 0, -1, 5, 3],
        TensorDataType.Int64 => [long.MinValue, long.MaxValue, 0L, -1L, 5L, 3L],
        TensorDataType.FP16 => [0.5, -2.0, 65504.0, 0.0, 1.5, -0.25],
        TensorDataType.BF16 => [0.5, -2.0, 256.0, 0.0, 1.5, -0.25],
        TensorDataType.FP32 => [0.5, -2.25, 3.4028234663852886E+38, 0.0, 1e-3, -7.0],
        TensorDataType.FP64 => [0.5, -2.25, 1.7976931348623157E+308, 0.0, 1e-300, -7.0],
        _ => ["hello", "", "wörld", "a b", "🙂", "x"],
    };

    /// <summary>The little-endian bytes of the same values (the binary form; BYTES with 4-byte length prefixes).</summary>
    public static byte[] RawValues(TensorDataType type)
    {
        var values = JsonValues(type);
        if (type == TensorDataType.Bytes)
        {
            var strings = values.Cast<string>().Select(System.Text.Encoding.UTF8.GetBytes).ToArray();
            var result = new byte[strings.Sum(s => 4 + s.Length)];
            var offset = 0;
            foreach (var s in strings)
            {
                BinaryPrimitives.WriteInt32LittleEndian(result.AsSpan(offset), s.Length);
                s.CopyTo(result, offset + 4);
                offset += 4 + s.Length;
            }

            return result;
        }

        var size = type.ElementSize();
        var bytes = new byte[values.Length * size];
        for (var i = 0; i < values.Length; i++)
        {
            var span = bytes.AsSpan(i * size);
            var v = values[i];
            switch (type)
            {
                case TensorDataType.Bool: span[0] = (bool)v ? (byte)1 : (byte)0; break;
                case TensorDataType.UInt8: span[0] = (byte)Convert.ToInt64(v, null); break;
                case TensorDataType.Int8: span[0] = (byte)(sbyte)Convert.ToInt64(v, null); break;
                case TensorDataType.UInt16: BinaryPrimitives.WriteUInt16LittleEndian(span, (ushort)Convert.ToInt64(v, null)); break;
                case TensorDataType.Int16: BinaryPrimitives.WriteInt16LittleEndian(span, (short)Convert.ToInt64(v, null)); break;
                case TensorDataType.UInt32: BinaryPrimitives.WriteUInt32LittleEndian(span, (uint)Convert.ToInt64(v, null)); break;
                case TensorDataType.Int32: BinaryPrimitives.WriteInt32LittleEndian(span, (int)Convert.ToInt64(v, null)); break;
                case TensorDataType.UInt64: BinaryPrimitives.WriteUInt64LittleEndian(span, (ulong)v); break;
                case TensorDataType.Int64: BinaryPrimitives.WriteInt64LittleEndian(span, (long)v); break;
                case TensorDataType.FP16: BinaryPrimitives.WriteHalfLittleEndian(span, (Half)(double)v); break;
                case TensorDataType.BF16: BinaryPrimitives.WriteUInt16LittleEndian(span, (ushort)(BitConverter.SingleToUInt32Bits((float)(double)v) >> 16)); break;
                case TensorDataType.FP32: BinaryPrimitives.WriteSingleLittleEndian(span, (float)(double)v); break;
                case TensorDataType.FP64: BinaryPrimitives.WriteDoubleLittleEndian(span, (double)v); break;
            }
        }

        return bytes;
    }
}
