using System.Text.Json;
using Maas.Core.Datasets;
using Maas.Core.Registry;
using Maas.Core.TensorServing;
using Maas.Core.Training;
using Maas.Server.Auth;
using Maas.Server.TensorInference;
using Maas.Server.TensorInference.Rest;

namespace Maas.Server.Training;

/// <summary>
/// <c>POST /api/v1/models/{m}/predict</c> with <c>{"instances": [{"column": value, ...}]}</c> for models trained from a
/// table: each row becomes one entry of the model's per-feature [N, 1] inputs, one batch through the scheduler, and
/// the answers come back as numbers (regression) or labels with class probabilities.
/// </summary>
internal static class TabularPredict
{
    public static async Task PredictAsync(HttpContext ctx, ModelManager manager, IModelRegistry registry, string model, string? version, JsonElement instances,
        InferenceOptions options)
    {
        var (description, info) = await DescribeAsync(ctx, manager, registry, model, version);
        if (instances.ValueKind != JsonValueKind.Array || instances.GetArrayLength() == 0)
        {
            throw InferenceErrors.Invalid("instances must be a non-empty array of objects, one per row: [{\"column\": value, ...}]");
        }

        var rows = instances.GetArrayLength();
        CheckSize(rows, info, options);
        var index = FeatureIndex(info);
        var cells = info.Features.Select(_ => new object?[rows]).ToArray();
        var r = 0;
        foreach (var instance in instances.EnumerateArray())
        {
            if (instance.ValueKind != JsonValueKind.Object)
            {
                throw InferenceErrors.Invalid($"instance {r} must be an object of column values, not {instance.ValueKind.ToString().ToLowerInvariant()}");
            }

            foreach (var property in instance.EnumerateObject())
            {
                if (!index.TryGetValue(property.Name, out var f))
                {
                    throw InferenceErrors.Invalid($"instance {r}: '{RegistryNames.Shorten(property.Name)}' is not a feature of model '{description.Name}'; " +
                        $"it takes {Describe(info)}");
                }

                cells[f][r] = property.Value.ValueKind switch
                {
                    JsonValueKind.Number => property.Value.GetDouble(),
                    JsonValueKind.String => property.Value.GetString(),
                    JsonValueKind.True => true,
                    JsonValueKind.False => false,
                    JsonValueKind.Null => null,
                    _ => throw InferenceErrors.Invalid($"instance {r}: '{property.Name}' must be a number, string, boolean or null"),
                };
            }

            r++;
        }

        await RunAsync(ctx, manager, description, info, rows, cells, ignoredColumns: null);
    }

    /// <summary>
    /// The same for rows sent as a table file (CSV, TSV or JSON Lines with a header, as a dataset is uploaded): columns
    /// that are not features (the label, an id) are left out and named in <c>ignored_columns</c>, so a dataset's own
    /// file can be sent as it is; a feature the table lacks is missing in every row.
    /// </summary>
    public static async Task PredictAsync(HttpContext ctx, ModelManager manager, IModelRegistry registry, string model, string? version, DatasetTable table,
        InferenceOptions options)
    {
        var (description, info) = await DescribeAsync(ctx, manager, registry, model, version);
        var rows = table.Rows.Count;
        if (rows == 0)
        {
            throw InferenceErrors.Invalid("the table has a header but no rows");
        }

        CheckSize(rows, info, options);
        var index = FeatureIndex(info);
        var cells = info.Features.Select(_ => new object?[rows]).ToArray();
        var ignored = new List<string>();
        for (var c = 0; c < table.Columns.Count; c++)
        {
            if (!index.TryGetValue(table.Columns[c].Name, out var f))
            {
                ignored.Add(table.Columns[c].Name);
                continue;
            }

            for (var r = 0; r < rows; r++)
            {
                if (table.Rows[r][c] is byte[])
                {
                    throw InferenceErrors.Invalid($"column '{table.Columns[c].Name}' holds pictures; model '{description.Name}' takes {Describe(info)}");
                }

                cells[f][r] = table.Rows[r][c];
            }
        }

        if (ignored.Count == table.Columns.Count)
        {
            throw InferenceErrors.Invalid($"no column of the table is a feature of model '{description.Name}'; it takes {Describe(info)}");
        }

        await RunAsync(ctx, manager, description, info, rows, cells, ignored);
    }

    /// <summary>
    /// Reads a table body (CSV, TSV or JSON Lines) under the server's dataset limits (<c>Maas:Datasets:MaxColumns</c>,
    /// <c>MaxFieldBytes</c>, <c>MaxRowBytes</c>), as a dataset upload is read; a file that does not parse, or is over a
    /// limit, is an invalid input naming the line, and the setting with its value (also as <c>limit</c>).
    /// </summary>
    public static DatasetTable ReadTable(Stream body, DatasetFormat format, DatasetOptions datasets)
    {
        try
        {
            return DatasetParser.Parse(body, format, gzip: false, datasets.ReadOptionsForNewTables());
        }
        catch (DatasetFormatException ex)
        {
            var name = format == DatasetFormat.JsonLines ? "JSON Lines" : format.ToString().ToUpperInvariant();
            var limit = ex.Details?.GetValueOrDefault("limit") is int value ? value : (long?)null;
            throw new InferenceException(InferenceErrorKind.InvalidInput, $"the rows are not valid {name}: {ex.Message}") { Limit = limit };
        }
    }

    private static async Task<(ModelDescription Description, TabularModelInfo Info)> DescribeAsync(HttpContext ctx, ModelManager manager, IModelRegistry registry, string model,
        string? version)
    {
        var description = await manager.DescribeAsync(model, version, ctx.RequestAborted);
        var stored = await registry.GetVersionAsync(description.Name, (int)description.Version, ctx.RequestAborted);
        if (!stored.Metadata.TryGetValue(TabularModelInfo.MetadataKey, out var text))
        {
            throw InferenceErrors.Invalid($"model '{description.Name}' version {description.Version} was not trained from a table, so it takes no instances; send {{\"inputs\": " +
                $"{{\"<input name>\": <nested arrays>}}}}");
        }

        // A version stored before maas.* keys were reserved may hold anything: a value no training job wrote is the version's fault, said as such.
        var info = TabularModelInfo.TryRead(text) ?? throw InferenceErrors.Invalid(
            $"model '{description.Name}' version {description.Version} has '{TabularModelInfo.MetadataKey}' metadata MaaS cannot read (expected {TabularModelInfo.Expected}), " +
            $"so it takes no instances; send {{\"inputs\": {{\"<input name>\": <nested arrays>}}}}");

        return (description, info);
    }

    private static void CheckSize(int rows, TabularModelInfo info, InferenceOptions options)
    {
        if ((long)rows * info.Features.Count > options.MaxTensorElements)
        {
            throw InferenceErrors.Invalid($"{rows} instances of {info.Features.Count} features are over the limit of {options.MaxTensorElements} elements per request " +
                $"(Maas:Inference:MaxTensorElements)");
        }
    }

    private static Dictionary<string, int> FeatureIndex(TabularModelInfo info) =>
        info.Features.Select((f, i) => (f.Name, i)).ToDictionary(p => p.Name, p => p.i, StringComparer.Ordinal);

    private static string Describe(TabularModelInfo info) => string.Join(", ", info.Features.Select(x => $"{x.Name} ({x.Type})"));

    // The rows through the model in one batch, answered as numbers or labels with their class probabilities.
    private static async Task RunAsync(HttpContext ctx, ModelManager manager, ModelDescription description, TabularModelInfo info, int rows, object?[][] cells,
        List<string>? ignoredColumns)
    {
        var request = new InferenceRequest { Inputs = Inputs(info, rows, cells), RequestedOutputs = Outputs(info) };
        using var response = await manager.InferAsync(description.Name, description.Version.ToString(System.Globalization.CultureInfo.InvariantCulture), request,
            ctx.RequestAborted);
        ctx.Usage().ReportInference(response);
        var answers = Decode(info, rows, response);
        await V2Endpoints.Json(ctx, StatusCodes.Status200OK, w => Write(w, info, response, answers, ignoredColumns));
    }

    // One [rows, 1] tensor per feature: numbers as FP32, text as BYTES; a value of the wrong type is the caller's.
    private static List<Tensor> Inputs(TabularModelInfo info, int rows, object?[][] cells)
    {
        var tensors = new List<Tensor>();
        try
        {
            for (var f = 0; f < info.Features.Count; f++)
            {
                Array column;
                try
                {
                    column = TabularCodec.Column(info.Features[f], cells[f]);
                }
                catch (ArgumentException e)
                {
                    throw InferenceErrors.Invalid(e.Message);
                }

                if (column is float[] values)
                {
                    CheckRange(info.Features[f].Name, values, cells[f]);
                }

                tensors.Add(column is float[] numbers
                    ? Tensor.FromValues<float>(info.Features[f].Name, TensorDataType.FP32, [rows, 1], numbers)
                    : Tensor.FromStrings(info.Features[f].Name, [rows, 1], (string[])column));
            }
        }
        catch
        {
            tensors.ForEach(t => t.Dispose());
            throw;
        }

        return tensors;
    }

    // A number beyond float's range becomes infinity in the model's FP32 input, whose answer JSON cannot hold.
    private static void CheckRange(string feature, float[] values, object?[] cells)
    {
        var row = Array.FindIndex(values, float.IsInfinity);
        if (row >= 0)
        {
            var given = Convert.ToString(cells[row], System.Globalization.CultureInfo.InvariantCulture);
            throw InferenceErrors.Invalid($"instance {row}: '{feature}' is {given}, outside the range of the model's 32-bit floats (at most ±3.4E+38)");
        }
    }

    // The score, and the label and class probabilities where the model has them.
    private static List<string> Outputs(TabularModelInfo info)
    {
        var wanted = new List<string> { info.ScoreOutput };
        if (info.LabelOutput is { } labelOutput)
        {
            wanted.Add(labelOutput);
        }

        if (info.ProbabilityOutput is { } probabilityOutput)
        {
            wanted.Add(probabilityOutput);
        }

        return wanted;
    }

    private static TabularPrediction[] Decode(TabularModelInfo info, int rows, InferenceResponse response)
    {
        Tensor Output(string name) => response.Outputs.FirstOrDefault(o => o.Name == name) ?? throw new InvalidOperationException($"the model gave no output '{name}'");
        var score = Output(info.ScoreOutput).AsSpan<float>().ToArray();
        var label = info.LabelOutput is { } l ? Integers(Output(l)) : null;
        var probability = info.ProbabilityOutput is { } p ? Output(p).AsSpan<float>().ToArray() : null;
        var answers = TabularCodec.Decode(info, rows, score, label, probability);
        var bad = Array.FindIndex(answers, a => a.Value is { } v ? !double.IsFinite(v) : a.Probabilities?.Any(p => !double.IsFinite(p)) == true);
        if (bad >= 0)
        {
            // Finite inputs far from the training data can overflow the model's arithmetic; JSON has no NaN or infinity.
            throw InferenceErrors.Invalid($"instance {bad}: the model's answer is not a finite number (NaN or infinity): its inputs are too large for the " +
                $"model's 32-bit arithmetic");
        }

        return answers;
    }

    // {"model_name", "model_version", "predictions": [number | {"label", "probabilities"}], "ignored_columns"?}.
    private static void Write(Utf8JsonWriter w, TabularModelInfo info, InferenceResponse response, TabularPrediction[] answers, List<string>? ignoredColumns)
    {
        w.WriteString("model_name", response.ModelName);
        w.WriteString("model_version", response.ModelVersion);
        w.WriteStartArray("predictions");
        foreach (var answer in answers)
        {
            if (answer.Value is { } value)
            {
                w.WriteNumberValue(value);
                continue;
            }

            w.WriteStartObject();
            w.WritePropertyName("label");
            JsonSerializer.Serialize(w, TabularCodec.Label(info, answer.ClassIndex!.Value), RegistryJson.Options);
            w.WriteStartObject("probabilities");
            for (var c = 0; c < info.Classes!.Count; c++)
            {
                w.WriteNumber(info.Classes[c], answer.Probabilities![c]);
            }

            w.WriteEndObject();
            w.WriteEndObject();
        }

        w.WriteEndArray();
        if (ignoredColumns is not null)
        {
            w.WriteStartArray("ignored_columns");
            ignoredColumns.ForEach(w.WriteStringValue);
            w.WriteEndArray();
        }
    }

    private static long[] Integers(Tensor tensor)
    {
        if (tensor.DataType == TensorDataType.Bool || tensor.DataType == TensorDataType.UInt8)
        {
            return tensor.AsSpan<byte>().ToArray().Select(b => (long)b).ToArray();
        }

        if (tensor.DataType == TensorDataType.Int64)
        {
            return tensor.AsSpan<long>().ToArray();
        }

        if (tensor.DataType == TensorDataType.Int32)
        {
            return tensor.AsSpan<int>().ToArray().Select(v => (long)v).ToArray();
        }

        return tensor.AsSpan<float>().ToArray().Select(v => (long)v).ToArray();
    }
}
