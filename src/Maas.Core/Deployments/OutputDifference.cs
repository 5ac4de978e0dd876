using System.Buffers.Binary;
using Maas.Core.TensorServing;

namespace Maas.Core.Deployments;

/// <summary>How far one version's outputs are from another's for the same request.</summary>
/// <param name="MaxAbsError">The largest |a - b| over every numeric element (0 for text only).</param>
/// <param name="MaxRelError">The largest |a - b| / max(|b|, 1e-6) over every numeric element.</param>
/// <param name="ExactMatch">True when every output is identical (same names, shapes and bytes).</param>
public readonly record struct OutputDifference(double MaxAbsError, double MaxRelError, bool ExactMatch)
{
    /// <summary>Compares two sets of tensors by output name; a missing output or another shape is no match and an infinite error.</summary>
    public static OutputDifference Of(IReadOnlyList<Tensor> candidate, IReadOnlyList<Tensor> reference)
    {
        double maxAbs = 0, maxRel = 0;
        var exact = candidate.Count == reference.Count;
        foreach (var b in reference)
        {
            var a = candidate.FirstOrDefault(t => t.Name == b.Name);
            if (a is null || a.DataType != b.DataType || !a.Shape.AsSpan().SequenceEqual(b.Shape))
            {
                return new OutputDifference(double.PositiveInfinity, double.PositiveInfinity, false);
            }

            exact &= a.Data.Span.SequenceEqual(b.Data.Span);
            if (!IsNumeric(a.DataType))
            {
                continue;
            }

            for (long i = 0; i < a.ElementCount; i++)
            {
                var x = Element(a, i);
                var y = Element(b, i);
                var abs = Math.Abs(x - y);
                if (double.IsNaN(abs))
                {
                    abs = double.IsNaN(x) && double.IsNaN(y) ? 0 : double.PositiveInfinity;
                }

                maxAbs = Math.Max(maxAbs, abs);
                maxRel = Math.Max(maxRel, abs / Math.Max(Math.Abs(y), 1e-6));
            }
        }

        return new OutputDifference(maxAbs, maxRel, exact);
    }

    /// <summary>Compares two texts: exact match or not (no numeric error).</summary>
    public static OutputDifference OfText(string candidate, string reference) =>
        new(0, 0, string.Equals(candidate, reference, StringComparison.Ordinal));

    /// <summary>Compares the texts of several choices: an exact match only when there are as many and each one is identical.</summary>
    public static OutputDifference OfTexts(IReadOnlyList<string> candidate, IReadOnlyList<string> reference) =>
        new(0, 0, candidate.Count == reference.Count && candidate.Zip(reference).All(p => string.Equals(p.First, p.Second, StringComparison.Ordinal)));

    private static bool IsNumeric(TensorDataType type) => type is not (TensorDataType.Bytes or TensorDataType.Bool);

    private static double Element(Tensor t, long index)
    {
        var s = t.Data.Span;
        var i = (int)index;
        return t.DataType switch
        {
            TensorDataType.FP32 => BinaryPrimitives.ReadSingleLittleEndian(s[(i * 4)..]),
            TensorDataType.FP64 => BinaryPrimitives.ReadDoubleLittleEndian(s[(i * 8)..]),
            TensorDataType.FP16 => (double)BinaryPrimitives.ReadHalfLittleEndian(s[(i * 2)..]),
            TensorDataType.BF16 => BitConverter.Int32BitsToSingle(BinaryPrimitives.ReadUInt16LittleEndian(s[(i * 2)..]) << 16),
            TensorDataType.Int8 => (sbyte)s[i],
            TensorDataType.UInt8 => s[i],
            TensorDataType.Int16 => BinaryPrimitives.ReadInt16LittleEndian(s[(i * 2)..]),
            TensorDataType.UInt16 => BinaryPrimitives.ReadUInt16LittleEndian(s[(i * 2)..]),
            TensorDataType.Int32 => BinaryPrimitives.ReadInt32LittleEndian(s[(i * 4)..]),
            TensorDataType.UInt32 => BinaryPrimitives.ReadUInt32LittleEndian(s[(i * 4)..]),
            TensorDataType.Int64 => BinaryPrimitives.ReadInt64LittleEndian(s[(i * 8)..]),
            TensorDataType.UInt64 => BinaryPrimitives.ReadUInt64LittleEndian(s[(i * 8)..]),
            _ => 0,
        };
    }
}
