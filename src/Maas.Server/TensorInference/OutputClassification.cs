using System.Buffers;
using System.Buffers.Binary;
using System.Globalization;
using System.Numerics;
using System.Text;
using Maas.Core.Registry;
using Maas.Core.TensorServing;

namespace Maas.Server.TensorInference;

/// <summary>
/// The classification extension (as Triton and KServe clients know it): an output requested with the parameter
/// <c>"classification": K</c> is answered, instead of its values, as a BYTES tensor of each row's K highest values,
/// written <c>"value:index"</c>, or <c>"value:index:label"</c> where the version names its classes (as
/// <see cref="VersionLabels.Resolve"/> resolves them, which the version's API view shows too).
/// </summary>
/// <remarks>
/// An output of shape [rows, c1, c2, ...] is ranked per row (its first dimension), over the c1·c2·... values of the
/// row, and answered with shape [rows, K]; an output of rank 1 is one row, answered with shape [K]. K larger than the
/// classes is clamped to them, as Triton does. Values are compared in the output's own datatype, the highest first,
/// ties by the lower index, NaN last.
/// </remarks>
internal static class OutputClassification
{
    /// <summary>The output parameter that asks for it.</summary>
    public const string Parameter = "classification";

    /// <summary>
    /// K from the parameter's value as a protocol reader parsed it (long, ulong, double, bool or string); anything but a
    /// positive integer is refused. <paramref name="written"/> is the value as the caller sent it, for the message.
    /// </summary>
    public static int ReadCount(string output, object? value, string written) => value switch
    {
        long and >= 1 and var l => (int)Math.Min(l, int.MaxValue),
        ulong and >= 1 and var u => (int)Math.Min(u, int.MaxValue),
        _ => throw InferenceErrors.Invalid(
            $"output '{output}': parameter \"{Parameter}\" must be a positive integer (how many of the highest values of each row to return), not {written}"),
    };

    /// <summary>
    /// The answer to send: <paramref name="response"/> with each output of <paramref name="counts"/> replaced by its
    /// classification (the others are the same tensors). Its Dispose frees the new tensors and the shared ones; the
    /// caller may dispose <paramref name="response"/> too (a tensor is freed once).
    /// </summary>
    public static async Task<InferenceResponse> ApplyAsync(
        InferenceResponse response, IReadOnlyDictionary<string, int>? counts, ModelManager manager, CancellationToken cancellationToken)
    {
        if (counts is not { Count: > 0 })
        {
            return response;
        }

        foreach (var output in response.Outputs)
        {
            if (counts.ContainsKey(output.Name))
            {
                CheckRankable(output);
            }
        }

        var labels = await manager.LabelsAsync(response.ModelName, response.ModelVersion, cancellationToken);
        var outputs = new List<Tensor>(response.Outputs.Count);
        var created = new List<Tensor>();
        try
        {
            foreach (var output in response.Outputs)
            {
                if (counts.TryGetValue(output.Name, out var k))
                {
                    var classified = Classify(output, k, labels?.GetValueOrDefault(output.Name));
                    created.Add(classified);
                    outputs.Add(classified);
                }
                else
                {
                    outputs.Add(output);
                }
            }
        }
        catch
        {
            created.ForEach(t => t.Dispose());
            throw;
        }

        return new InferenceResponse
        {
            ModelName = response.ModelName,
            ModelVersion = response.ModelVersion,
            Id = response.Id,
            Outputs = outputs,
            Parameters = response.Parameters,
            BatchItems = response.BatchItems,
            ComputeTime = response.ComputeTime,
        };
    }

    private static void CheckRankable(Tensor output)
    {
        if (output.DataType is TensorDataType.Bytes or TensorDataType.Bool)
        {
            throw InferenceErrors.Invalid(
                $"output '{output.Name}' is {output.DataType.Name()}: the classification extension ranks numeric outputs only; ask for it without \"{Parameter}\"");
        }

        if (output.Shape.Length == 0)
        {
            throw InferenceErrors.Invalid(
                $"output '{output.Name}' is a scalar: the classification extension needs a dimension of classes; ask for it without \"{Parameter}\"");
        }
    }

    /// <summary>The top <paramref name="k"/> of each row of <paramref name="output"/> as a BYTES tensor.</summary>
    public static Tensor Classify(Tensor output, int k, IReadOnlyList<string>? labels)
    {
        CheckRankable(output);
        var shape = output.Shape;
        var rows = shape.Length == 1 ? 1 : shape[0];
        long classes = 1;
        for (var i = shape.Length == 1 ? 0 : 1; i < shape.Length; i++)
        {
            classes *= shape[i];
        }

        var top = (int)Math.Min(k, classes);
        long[] resultShape = shape.Length == 1 ? [top] : [rows, top];
        if (labels is not null && labels.Count != classes)
        {
            labels = null; // named for another shape (a binary classifier's single score): indices only
        }

        // Written as the BYTES tensor's serialized form straight away (a length, then UTF-8), not one array per string.
        var strings = new ArrayBufferWriter<byte>((int)Math.Min(rows * top * 16L + 16, 1 << 20));
        var order = new int[top];
        for (long r = 0; r < rows; r++)
        {
            var start = (int)(r * classes);
            var count = (int)classes;
            switch (output.DataType)
            {
                case TensorDataType.UInt8: Row(output.AsSpan<byte>().Slice(start, count), order, labels, strings); break;
                case TensorDataType.UInt16: Row(output.AsSpan<ushort>().Slice(start, count), order, labels, strings); break;
                case TensorDataType.UInt32: Row(output.AsSpan<uint>().Slice(start, count), order, labels, strings); break;
                case TensorDataType.UInt64: Row(output.AsSpan<ulong>().Slice(start, count), order, labels, strings); break;
                case TensorDataType.Int8: Row(output.AsSpan<sbyte>().Slice(start, count), order, labels, strings); break;
                case TensorDataType.Int16: Row(output.AsSpan<short>().Slice(start, count), order, labels, strings); break;
                case TensorDataType.Int32: Row(output.AsSpan<int>().Slice(start, count), order, labels, strings); break;
                case TensorDataType.Int64: Row(output.AsSpan<long>().Slice(start, count), order, labels, strings); break;
                case TensorDataType.FP32: Row(output.AsSpan<float>().Slice(start, count), order, labels, strings); break;
                case TensorDataType.FP64: Row(output.AsSpan<double>().Slice(start, count), order, labels, strings); break;
                case TensorDataType.FP16 or TensorDataType.BF16:
                    // Widened to float, which holds every half and bfloat16 exactly (the order is the same), and written
                    // as that float: a half's own shortest text can be another number (65504 would be "65500").
                    var bits = output.AsSpan<ushort>().Slice(start, count);
                    var widened = new float[count];
                    for (var i = 0; i < count; i++)
                    {
                        widened[i] = output.DataType == TensorDataType.FP16 ? (float)BitConverter.UInt16BitsToHalf(bits[i]) : Rest.TensorJson.FromBFloat16(bits[i]);
                    }

                    Row<float>(widened, order, labels, strings);
                    break;
                default:
                    throw new InvalidOperationException($"no ranking for {output.DataType}");
            }
        }

        var tensor = Tensor.AllocateBytes(output.Name, resultShape, strings.WrittenCount, out var data);
        strings.WrittenSpan.CopyTo(data.Span);
        return tensor;
    }

    private static void Row<T>(ReadOnlySpan<T> row, int[] order, IReadOnlyList<string>? labels, ArrayBufferWriter<byte> strings)
        where T : INumberBase<T>, IComparisonOperators<T, T, bool>
    {
        Rank(row, order);
        foreach (var index in order)
        {
            var value = row[index].ToString(null, CultureInfo.InvariantCulture);
            var text = labels is null
                ? string.Create(CultureInfo.InvariantCulture, $"{value}:{index}")
                : string.Create(CultureInfo.InvariantCulture, $"{value}:{index}:{labels[index]}");
            var length = Encoding.UTF8.GetByteCount(text);
            var span = strings.GetSpan(4 + length);
            BinaryPrimitives.WriteInt32LittleEndian(span, length);
            Encoding.UTF8.GetBytes(text, span[4..]);
            strings.Advance(4 + length);
        }
    }

    /// <summary>Fills <paramref name="order"/> with the indices of the highest values of <paramref name="row"/>, highest first.</summary>
    public static void Rank<T>(ReadOnlySpan<T> row, int[] order)
        where T : INumberBase<T>, IComparisonOperators<T, T, bool>
    {
        var k = order.Length;
        if (k == 0)
        {
            return;
        }

        if (k > 32)
        {
            // Many of them: sort every index once rather than insert into a long list.
            var values = row.ToArray();
            var all = new int[values.Length];
            for (var i = 0; i < all.Length; i++)
            {
                all[i] = i;
            }

            Array.Sort(all, (a, b) => a == b ? 0 : Before(values[a], a, values[b], b) ? -1 : 1);
            Array.Copy(all, order, k);
            return;
        }

        // A few: keep the best k seen so far, in order (indices rise, so a tie never displaces an earlier index).
        var filled = 0;
        for (var i = 0; i < row.Length; i++)
        {
            if (filled == k && !Before(row[i], i, row[order[k - 1]], order[k - 1]))
            {
                continue;
            }

            var at = filled < k ? filled++ : k - 1;
            while (at > 0 && Before(row[i], i, row[order[at - 1]], order[at - 1]))
            {
                order[at] = order[at - 1];
                at--;
            }

            order[at] = i;
        }
    }

    // Higher first, then the lower index; NaN after every number.
    private static bool Before<T>(T a, int ia, T b, int ib)
        where T : INumberBase<T>, IComparisonOperators<T, T, bool>
    {
        var aNaN = T.IsNaN(a);
        var bNaN = T.IsNaN(b);
        if (aNaN || bNaN)
        {
            return aNaN == bNaN ? ia < ib : bNaN;
        }

        return a > b || (a == b && ia < ib);
    }
}
