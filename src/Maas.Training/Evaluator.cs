using Maas.Core.Training;

namespace Maas.Training;

/// <summary>Metrics of predictions against true labels, with the names the API promises (snake case).</summary>
internal static class Evaluator
{
    /// <summary>Regression: rmse, mae, r2.</summary>
    public static Dictionary<string, object?> Regression(double[] truth, double[] predicted)
    {
        var n = truth.Length;
        var mean = truth.Average();
        double se = 0, ae = 0, total = 0;
        for (var i = 0; i < n; i++)
        {
            var error = predicted[i] - truth[i];
            se += error * error;
            ae += Math.Abs(error);
            total += (truth[i] - mean) * (truth[i] - mean);
        }

        return new Dictionary<string, object?>
        {
            ["rows"] = n,
            ["rmse"] = Math.Sqrt(se / n),
            ["mae"] = ae / n,
            ["r2"] = total > 0 ? 1 - (se / total) : 0,
        };
    }

    /// <summary>Classification: accuracy, macro and per-class precision/recall/F1, log-loss, AUC (binary), confusion matrix.</summary>
    public static Dictionary<string, object?> Classification(int[] truth, Predictions predicted, IReadOnlyList<string> classes, bool binary)
    {
        var k = classes.Count;
        var n = truth.Length;
        var confusion = new long[k, k];
        double logLoss = 0;
        for (var i = 0; i < n; i++)
        {
            confusion[truth[i], predicted.Classes![i]]++;
            var p = predicted.Probabilities![i][truth[i]];
            logLoss -= Math.Log(Math.Clamp(p, 1e-15, 1));
        }

        var perClass = new Dictionary<string, object?>(StringComparer.Ordinal);
        double precisionSum = 0, recallSum = 0, f1Sum = 0;
        long correct = 0;
        for (var c = 0; c < k; c++)
        {
            correct += confusion[c, c];
            long predictedC = 0, actualC = 0;
            for (var j = 0; j < k; j++)
            {
                predictedC += confusion[j, c];
                actualC += confusion[c, j];
            }

            var precision = predictedC > 0 ? (double)confusion[c, c] / predictedC : 0;
            var recall = actualC > 0 ? (double)confusion[c, c] / actualC : 0;
            var f1 = precision + recall > 0 ? 2 * precision * recall / (precision + recall) : 0;
            precisionSum += precision;
            recallSum += recall;
            f1Sum += f1;
            perClass[classes[c]] = new Dictionary<string, object?> { ["precision"] = precision, ["recall"] = recall, ["f1"] = f1, ["support"] = actualC };
        }

        var result = new Dictionary<string, object?>
        {
            ["rows"] = n,
            ["accuracy"] = n > 0 ? (double)correct / n : 0,
            ["macro_precision"] = precisionSum / k,
            ["macro_recall"] = recallSum / k,
            ["macro_f1"] = f1Sum / k,
            ["log_loss"] = n > 0 ? logLoss / n : 0,
        };
        if (binary)
        {
            var auc = Auc(truth, predicted.Probabilities!.Select(p => p[1]).ToArray());
            result["auc"] = double.IsNaN(auc) ? null : auc;
        }

        result["per_class"] = perClass;
        result["confusion_matrix"] = new Dictionary<string, object?>
        {
            ["labels"] = classes,
            ["matrix"] = Enumerable.Range(0, k).Select(r => Enumerable.Range(0, k).Select(c => confusion[r, c]).ToArray()).ToArray(),
        };
        return result;
    }

    // The Mann-Whitney form: the chance a positive scores above a negative, ties counting half.
    private static double Auc(int[] truth, double[] positiveScore)
    {
        var order = Enumerable.Range(0, truth.Length).OrderBy(i => positiveScore[i]).ToArray();
        double rankSum = 0;
        long positives = 0;
        var r = 0;
        while (r < order.Length)
        {
            var end = r;
            while (end + 1 < order.Length && positiveScore[order[end + 1]] == positiveScore[order[r]])
            {
                end++;
            }

            var rank = ((r + end) / 2.0) + 1;
            for (var i = r; i <= end; i++)
            {
                if (truth[order[i]] == 1)
                {
                    rankSum += rank;
                    positives++;
                }
            }

            r = end + 1;
        }

        var negatives = truth.Length - positives;
        return positives == 0 || negatives == 0 ? double.NaN : (rankSum - (positives * (positives + 1) / 2.0)) / (positives * (double)negatives);
    }

    /// <summary>The metrics reported as job progress (numbers only).</summary>
    public static Dictionary<string, double> Headline(Dictionary<string, object?> metrics, string prefix) =>
        metrics.Where(kv => kv.Value is double d && double.IsFinite(d) && kv.Key != "rows").ToDictionary(kv => prefix + kv.Key, kv => (double)kv.Value!);

    /// <summary>True for a task name that predicts classes.</summary>
    public static bool IsClassification(string task) => task != TrainingNames.Regression;
}
