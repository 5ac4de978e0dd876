using Maas.Core.Training;
using Maas.Runtimes.Onnx;

namespace Maas.Training;

/// <summary>Runs an exported tabular model on ONNX Runtime (the training job's check that it answers like ML.NET).</summary>
internal static class TabularOnnx
{
    public static Predictions Run(string path, TabularModelInfo info, IReadOnlyList<object?[]> rows, CancellationToken cancellationToken = default)
    {
        using var session = Open(path);
        return Run(session, info, rows, cancellationToken);
    }

    /// <summary>A session on one thread (a training or evaluation job shares the machine with serving), the caller's to dispose.</summary>
    public static OnnxSession Open(string path)
    {
        using var options = new OnnxSessionOptions { IntraOpThreads = 1, InterOpThreads = 1 };
        return OnnxSession.Open(path, options);
    }

    /// <summary>The answers of <paramref name="session"/> (a model exported with <paramref name="info"/>) for <paramref name="rows"/>, one cell per feature.</summary>
    public static Predictions Run(OnnxSession session, TabularModelInfo info, IReadOnlyList<object?[]> rows, CancellationToken cancellationToken = default)
    {
        var inputs = new List<KeyValuePair<string, OnnxTensor>>();
        try
        {
            for (var f = 0; f < info.Features.Count; f++)
            {
                var column = TabularCodec.Column(info.Features[f], rows.Select(r => r[f]).ToArray());
                inputs.Add(new(info.Features[f].Name, column is float[] numbers
                    ? OnnxTensor.Create(numbers, rows.Count, 1)
                    : OnnxTensor.CreateStrings((string[])column, [rows.Count, 1])));
            }

            var names = new List<string> { info.ScoreOutput };
            if (info.LabelOutput is { } labelName)
            {
                names.Add(labelName);
            }

            if (info.ProbabilityOutput is { } probabilityName)
            {
                names.Add(probabilityName);
            }

            using var outputs = session.Run(inputs, names, cancellationToken: cancellationToken);
            var score = outputs[0].GetData<float>().ToArray();
            var label = info.LabelOutput is null ? null : Integers(outputs[1]);
            var probability = info.ProbabilityOutput is null ? null : outputs[names.IndexOf(info.ProbabilityOutput)].GetData<float>().ToArray();
            var answers = TabularCodec.Decode(info, rows.Count, score, label, probability);
            return info.Task == TrainingNames.Regression
                ? new Predictions(answers.Select(a => a.Value!.Value).ToArray(), null, null)
                : new Predictions(null, answers.Select(a => a.ClassIndex!.Value).ToArray(), answers.Select(a => a.Probabilities!).ToArray());
        }
        finally
        {
            foreach (var input in inputs)
            {
                input.Value.Dispose();
            }
        }
    }

    /// <summary>A label output of any integer or boolean type, as longs.</summary>
    public static long[] Integers(OnnxTensor tensor) =>
        tensor.LabelsAsInt64() ?? throw new InvalidOperationException($"a label output of type {tensor.ElementType} is not understood");
}
