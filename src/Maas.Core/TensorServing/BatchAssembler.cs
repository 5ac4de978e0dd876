using System.Buffers.Binary;

namespace Maas.Core.TensorServing;

/// <summary>Stacks requests along the batch dimension and splits a batch's outputs back per request.</summary>
public static class BatchAssembler
{
    /// <summary>Concatenates the named input of each request along dimension 0 into one pooled tensor.</summary>
    public static Tensor Concatenate(string name, IReadOnlyList<Tensor> parts)
    {
        var first = parts[0];
        long rows = 0;
        long bytes = 0;
        foreach (var p in parts)
        {
            rows += p.Shape[0];
            bytes += p.Data.Length;
        }

        var shape = (long[])first.Shape.Clone();
        shape[0] = rows;
        Memory<byte> target;
        Tensor result;
        if (first.DataType == TensorDataType.Bytes)
        {
            result = Tensor.AllocateBytes(name, shape, bytes, out target);
        }
        else
        {
            result = Tensor.Allocate(name, first.DataType, shape);
            target = result.Data;
        }

        var span = target.Span;
        foreach (var p in parts)
        {
            p.Data.Span.CopyTo(span);
            span = span[p.Data.Length..];
        }

        return result;
    }

    /// <summary>Splits <paramref name="output"/> into consecutive row ranges of the given sizes (pooled copies).</summary>
    public static Tensor[] Split(Tensor output, IReadOnlyList<long> rows)
    {
        long total = 0;
        foreach (var r in rows)
        {
            total += r;
        }

        if (output.Shape.Length == 0 || output.Shape[0] != total)
        {
            throw new InferenceException(InferenceErrorKind.Internal,
                $"output '{output.Name}' has shape {TensorShape.Format(output.Shape)}, whose first dimension does not match the batch of {total} rows");
        }

        var result = new Tensor[rows.Count];
        var perRow = total == 0 ? 0 : output.ElementCount / total;
        var data = output.Data.Span;
        var offset = 0;
        for (var i = 0; i < rows.Count; i++)
        {
            var shape = (long[])output.Shape.Clone();
            shape[0] = rows[i];
            if (output.DataType == TensorDataType.Bytes)
            {
                var start = offset;
                for (long e = 0; e < rows[i] * perRow; e++)
                {
                    offset += 4 + BinaryPrimitives.ReadInt32LittleEndian(data[offset..]);
                }

                result[i] = Tensor.AllocateBytes(output.Name, shape, offset - start, out var target);
                data[start..offset].CopyTo(target.Span);
            }
            else
            {
                result[i] = Tensor.Allocate(output.Name, output.DataType, shape);
                var length = result[i].Data.Length;
                data.Slice(offset, length).CopyTo(result[i].Data.Span);
                offset += length;
            }
        }

        return result;
    }
}
