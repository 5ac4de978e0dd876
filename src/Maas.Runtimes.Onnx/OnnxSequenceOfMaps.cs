using Maas.Core.Formats.Onnx;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace Maas.Runtimes.Onnx;

/// <summary>
/// An ONNX-ML <c>ZipMap</c>'s output (a sequence of maps from class to probability, one map per row) as the FP32
/// tensor [rows, classes] MaaS serves in its place; columns in <see cref="ZipMapColumns"/> order.
/// </summary>
internal static class OnnxSequenceOfMaps
{
    /// <summary>Whether an output of this type is served as a dense tensor: a sequence of maps from INT64 or STRING to FP32.</summary>
    public static bool IsServable(NodeMetadata node)
    {
        if (node.OnnxValueType != OnnxValueType.ONNX_TYPE_SEQUENCE)
        {
            return false;
        }

        var element = node.AsSequenceMetadata().ElementMeta;
        if (element.OnnxValueType != OnnxValueType.ONNX_TYPE_MAP)
        {
            return false;
        }

        var map = element.AsMapMetadata();
        return map.KeyDataType is TensorElementType.Int64 or TensorElementType.String
            && map.ValueMetadata.IsTensor && map.ValueMetadata.ElementDataType == TensorElementType.Float;
    }

    /// <summary>The rows of <paramref name="sequence"/> as one FP32 tensor; the caller keeps and disposes the sequence.</summary>
    public static OnnxTensor ToTensor(OrtValue sequence)
    {
        var rows = sequence.GetValueCount();
        string[]? stringColumns = null;
        long[]? intColumns = null;
        Dictionary<string, int>? stringIndex = null;
        Dictionary<long, int>? intIndex = null;
        OnnxTensor? result = null;
        try
        {
            for (var row = 0; row < rows; row++)
            {
                using var map = sequence.GetValue(row, OrtAllocator.DefaultInstance);
                using var keys = map.GetValue(0, OrtAllocator.DefaultInstance);
                using var values = map.GetValue(1, OrtAllocator.DefaultInstance);
                var probabilities = values.GetTensorDataAsSpan<float>();
                if (keys.GetTensorTypeAndShape().ElementDataType == TensorElementType.String)
                {
                    var names = new string[probabilities.Length];
                    for (var i = 0; i < names.Length; i++)
                    {
                        names[i] = keys.GetStringElement(i);
                    }

                    if (stringIndex is null)
                    {
                        stringColumns = ZipMapColumns.Order(names);
                        stringIndex = stringColumns.Select((k, i) => (k, i)).ToDictionary(p => p.k, p => p.i, StringComparer.Ordinal);
                        result = OnnxTensor.Allocate(OnnxElementType.Float, [rows, stringColumns.Length]);
                    }

                    Fill(result!, row, stringColumns!.Length, probabilities, names, stringIndex);
                }
                else
                {
                    var numbers = keys.GetTensorDataAsSpan<long>().ToArray();
                    if (intIndex is null)
                    {
                        intColumns = ZipMapColumns.Order(numbers);
                        intIndex = intColumns.Select((k, i) => (k, i)).ToDictionary(p => p.k, p => p.i);
                        result = OnnxTensor.Allocate(OnnxElementType.Float, [rows, intColumns.Length]);
                    }

                    Fill(result!, row, intColumns!.Length, probabilities, numbers, intIndex);
                }
            }

            return result ?? OnnxTensor.Allocate(OnnxElementType.Float, [0, 0]);
        }
        catch
        {
            result?.Dispose();
            throw;
        }
    }

    // A ZipMap names every class in every row; a row with other keys would be a different table, not a column order.
    private static void Fill<TKey>(OnnxTensor result, int row, int columns, ReadOnlySpan<float> probabilities, TKey[] keys, Dictionary<TKey, int> index)
        where TKey : notnull
    {
        if (keys.Length != columns)
        {
            throw new InvalidOperationException($"row {row} of the sequence of maps has {keys.Length} keys where the first has {columns}");
        }

        var target = result.GetData<float>().Slice(row * columns, columns);
        for (var i = 0; i < keys.Length; i++)
        {
            if (!index.TryGetValue(keys[i], out var column))
            {
                throw new InvalidOperationException($"row {row} of the sequence of maps has key '{keys[i]}', which the first row lacks");
            }

            target[column] = probabilities[i];
        }
    }
}
