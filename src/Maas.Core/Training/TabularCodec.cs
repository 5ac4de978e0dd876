using System.Globalization;
using Maas.Core.Datasets;

namespace Maas.Core.Training;

/// <summary>
/// Turns rows into a tabular model's inputs (one [N, 1] column per feature) and its outputs back into answers, the
/// same way for the training job's ONNX check and for /predict.
/// </summary>
public static class TabularCodec
{
    /// <summary>
    /// The input column of <paramref name="feature"/> for the rows' cells (double, bool, string or null): a float array
    /// for numbers (missing is NaN, imputed by the model), a string array for categories (missing is "").
    /// </summary>
    /// <exception cref="ArgumentException">A cell cannot be read as the feature's type (the message names the row and column).</exception>
    public static Array Column(TabularFeature feature, IReadOnlyList<object?> cells)
    {
        if (feature.Type == TabularFeature.Number)
        {
            var values = new float[cells.Count];
            for (var i = 0; i < cells.Count; i++)
            {
                values[i] = cells[i] switch
                {
                    null => float.NaN,
                    double d => (float)d,
                    bool b => b ? 1 : 0,
                    string s when DatasetParser.IsMissing(s) => float.NaN,
                    string s when double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) => (float)d,
                    var other => throw new ArgumentException($"instance {i}: '{feature.Name}' must be a number, not {Describe(other)}"),
                };
            }

            return values;
        }

        var texts = new string[cells.Count];
        for (var i = 0; i < cells.Count; i++)
        {
            texts[i] = cells[i] is null ? "" : DatasetStatisticsCalculator.Key(cells[i]!);
        }

        return texts;
    }

    private static string Describe(object value) => value switch
    {
        string s => $"the text '{(s.Length > 40 ? s[..40] + "..." : s)}'",
        _ => value.GetType().Name,
    };

    /// <summary>
    /// The answers of <paramref name="rows"/> rows from the model's outputs: the score (regression: [N, 1];
    /// multiclass: [N, K]), the predicted label (binary, as 0/1) and the positive probability (binary).
    /// </summary>
    public static TabularPrediction[] Decode(TabularModelInfo info, int rows, float[] score, long[]? binaryLabel, float[]? probability)
    {
        var answers = new TabularPrediction[rows];
        if (info.Task == TrainingNames.Regression)
        {
            for (var i = 0; i < rows; i++)
            {
                answers[i] = new TabularPrediction(score[i], null, null);
            }

            return answers;
        }

        if (info.Task == TrainingNames.Binary)
        {
            for (var i = 0; i < rows; i++)
            {
                var p = probability is null ? 1 / (1 + Math.Exp(-score[i])) : probability[i];
                var label = binaryLabel is null ? (p >= 0.5 ? 1 : 0) : (binaryLabel[i] != 0 ? 1 : 0);
                answers[i] = new TabularPrediction(null, label, [1 - p, p]);
            }

            return answers;
        }

        var k = info.Classes!.Count;
        for (var i = 0; i < rows; i++)
        {
            var s = new double[k];
            var best = 0;
            double sum = 0;
            for (var c = 0; c < k; c++)
            {
                s[c] = score[(i * k) + c];
                sum += s[c];
                if (s[c] > s[best])
                {
                    best = c;
                }
            }

            if (sum > 0)
            {
                for (var c = 0; c < k; c++)
                {
                    s[c] /= sum;
                }
            }

            answers[i] = new TabularPrediction(null, best, s);
        }

        return answers;
    }

    /// <summary>A class label as the API answers it: a number when the label column held numbers, else the text.</summary>
    public static object Label(TabularModelInfo info, int classIndex)
    {
        var text = info.Classes![classIndex];
        return info.NumericLabel && double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) ? d : text;
    }
}
