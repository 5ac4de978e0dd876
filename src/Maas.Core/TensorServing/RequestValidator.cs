namespace Maas.Core.TensorServing;

/// <summary>Checks a request against a model's signature before it is queued, with messages that name what was expected.</summary>
public static class RequestValidator
{
    /// <summary>
    /// Validates inputs and requested outputs; returns the request's row count along the batch dimension
    /// when <paramref name="batchDimension"/> is set, else 1.
    /// </summary>
    public static long Validate(
        InferenceRequest request,
        string modelLabel,
        IReadOnlyList<TensorMetadata> inputs,
        IReadOnlyList<TensorMetadata> outputs,
        bool batchDimension,
        int maxBatchSize)
    {
        var (rows, rowsFrom) = ValidateInputs(request, modelLabel, inputs, batchDimension);
        ValidateOutputs(request, modelLabel, outputs);
        if (batchDimension && maxBatchSize > 1 && rows > maxBatchSize)
        {
            throw Invalid($"input '{rowsFrom}' has {rows} rows in its batch dimension, over the max batch size of {modelLabel} ({maxBatchSize})");
        }

        return batchDimension ? rows : 1;
    }

    // Every input known, given once, of its datatype and shape, every one the model needs given; with a batch
    // dimension, the rows they agree on (and the input that set them).
    private static (long Rows, string? RowsFrom) ValidateInputs(InferenceRequest request, string modelLabel, IReadOnlyList<TensorMetadata> inputs, bool batchDimension)
    {
        long rows = -1;
        string? rowsFrom = null;
        for (var i = 0; i < request.Inputs.Count; i++)
        {
            var given = request.Inputs[i];
            var expected = Find(inputs, given.Name) ?? throw Invalid(
                $"unknown input '{given.Name}': {modelLabel} takes {Describe(inputs)}");
            for (var j = 0; j < i; j++)
            {
                if (request.Inputs[j].Name == given.Name)
                {
                    throw Invalid($"input '{given.Name}' is given more than once");
                }
            }

            if (given.DataType != expected.DataType)
            {
                throw Invalid($"input '{given.Name}' has datatype {given.DataType.Name()} but {modelLabel} expects {expected.DataType.Name()}");
            }

            CheckShape(given, expected, modelLabel);
            if (batchDimension)
            {
                var r = given.Shape[0];
                if (rows >= 0 && r != rows)
                {
                    throw Invalid($"inputs disagree on the batch dimension: '{rowsFrom}' has {rows} rows but '{given.Name}' has {r}");
                }

                rows = r;
                rowsFrom = given.Name;
            }
        }

        foreach (var expected in inputs)
        {
            if (!request.Inputs.Any(t => t.Name == expected.Name))
            {
                throw Invalid($"input '{expected.Name}' is missing: {modelLabel} needs {Describe(expected)}");
            }
        }

        return (rows, rowsFrom);
    }

    // Requested outputs known and named once; ranked (classified) outputs known and numeric.
    private static void ValidateOutputs(InferenceRequest request, string modelLabel, IReadOnlyList<TensorMetadata> outputs)
    {
        if (request.RequestedOutputs is { } requested)
        {
            for (var i = 0; i < requested.Count; i++)
            {
                if (Find(outputs, requested[i]) is null)
                {
                    throw Invalid($"unknown output '{requested[i]}': {modelLabel} produces {Describe(outputs)}");
                }

                for (var j = 0; j < i; j++)
                {
                    if (requested[j] == requested[i])
                    {
                        throw Invalid($"output '{requested[i]}' is requested more than once");
                    }
                }
            }
        }

        if (request.RankedOutputs is { Count: > 0 } ranked)
        {
            foreach (var name in ranked)
            {
                var output = Find(outputs, name) ?? throw Invalid($"unknown output '{name}': {modelLabel} produces {Describe(outputs)}");
                if (output.DataType is TensorDataType.Bool or TensorDataType.Bytes)
                {
                    throw Invalid(
                        $"output '{name}' is {output.DataType.Name()}: the classification extension ranks numeric outputs only; ask for it without \"classification\"");
                }
            }
        }
    }

    private static void CheckShape(Tensor given, TensorMetadata expected, string modelLabel)
    {
        var shape = given.Shape;
        if (shape.Length != expected.Shape.Length)
        {
            throw Invalid($"input '{given.Name}' has shape {TensorShape.Format(shape)} (rank {shape.Length}) but {modelLabel} expects {TensorShape.Format(expected.Shape)} " +
                $"(rank {expected.Shape.Length})");
        }

        for (var d = 0; d < shape.Length; d++)
        {
            if (expected.Shape[d] >= 0 && shape[d] != expected.Shape[d])
            {
                throw Invalid($"input '{given.Name}' has shape {TensorShape.Format(shape)} but {modelLabel} expects {TensorShape.Format(expected.Shape)}: dimension {d} " +
                    $"must be {expected.Shape[d]}");
            }
        }
    }

    private static TensorMetadata? Find(IReadOnlyList<TensorMetadata> list, string name)
    {
        foreach (var m in list)
        {
            if (m.Name == name)
            {
                return m;
            }
        }

        return null;
    }

    /// <summary>"'x' (FP32 [-1,4])".</summary>
    public static string Describe(TensorMetadata m) => $"'{m.Name}' ({m.DataType.Name()} {TensorShape.Format(m.Shape)})";

    private static string Describe(IReadOnlyList<TensorMetadata> list) => string.Join(", ", list.Select(Describe));

    private static InferenceException Invalid(string message) => new(InferenceErrorKind.InvalidInput, message);
}
