using System.Reflection;
using Maas.Core.Training;
using Microsoft.ML;
using Microsoft.ML.Calibrators;
using Microsoft.ML.Data;
using Microsoft.ML.Trainers;
using Microsoft.ML.Trainers.FastTree;

namespace Maas.Training;

/// <summary>
/// The metrics of a boosted-tree model (LightGBM, FastTree) after each boosting iteration, computed from its own trees.
/// </summary>
/// <remarks>
/// ML.NET reports no metrics from inside a fit, but a boosted model after k iterations is exactly its first k trees (later
/// trees never change earlier ones), so one pass over the finished model's trees gives the whole curve for the cost of
/// scoring the rows once more. The trees are walked as ML.NET walks them, and the last point must match ML.NET's own
/// scores before any point is reported.
/// </remarks>
internal sealed class BoostedTreeCurve
{
    /// <summary>At most this many points per curve; longer runs report every n-th iteration.</summary>
    public const int MaxPoints = 50;

    private readonly Head[] _heads;
    private readonly string _task;
    private bool _softmax;

    private BoostedTreeCurve(Head[] heads, string task)
    {
        _heads = heads;
        _task = task;
    }

    /// <summary>Boosting iterations (trees per class).</summary>
    public int Iterations => _heads.Max(h => h.Trees.Count);

    /// <summary>The curve of a fitted tabular pipeline, or why it has none.</summary>
    public static (BoostedTreeCurve? Curve, string? Reason) From(ITransformer model, string task)
    {
        var last = model is IEnumerable<ITransformer> chain ? chain.LastOrDefault() : model;
        var predictor = (last as IPredictionTransformer<object>)?.Model;
        Head[]? heads = predictor switch
        {
            TreeEnsembleModelParametersBasedOnRegressionTree trees => [new Head(trees.TrainedTreeEnsemble.Trees, null)],
            CalibratedModelParametersBase { SubModel: TreeEnsembleModelParametersBasedOnRegressionTree trees } calibrated =>
                [new Head(trees.TrainedTreeEnsemble.Trees, calibrated.Calibrator)],
            OneVersusAllModelParameters ova => ClassHeads(ova),
            _ => null,
        };
        return heads is null || heads.Length == 0
            ? (null, $"the model's predictor ({predictor?.GetType().Name ?? "none"}) exposes no trees")
            : (new BoostedTreeCurve(heads, task), null);
    }

    // ML.NET 6 keeps a one-versus-all model's per-class models internal; the pinned version names them
    // SubModelParameters. If a later version renames it, the job reports no curve and goes on.
    private static Head[]? ClassHeads(OneVersusAllModelParameters ova)
    {
        var property = typeof(OneVersusAllModelParameters).GetProperty("SubModelParameters", BindingFlags.Instance | BindingFlags.NonPublic);
        if (property?.GetValue(ova) is not IEnumerable<object> models)
        {
            return null;
        }

        var heads = new List<Head>();
        foreach (var m in models)
        {
            if (m is not CalibratedModelParametersBase { SubModel: TreeEnsembleModelParametersBasedOnRegressionTree trees } calibrated)
            {
                return null;
            }

            heads.Add(new Head(trees.TrainedTreeEnsemble.Trees, calibrated.Calibrator));
        }

        return [.. heads];
    }

    /// <summary>
    /// Reads the feature vectors of scored rows (the pipeline's output), checks that the whole model scored here answers
    /// like ML.NET did, and returns the rows ready for <see cref="Point"/>; null with the reason when they disagree.
    /// </summary>
    public (Rows? Rows, string? Reason) Prepare(IDataView scored, int[] rows, TabularData data)
    {
        var features = scored.GetColumn<VBuffer<float>>("Features").Select(v => v.DenseValues().ToArray()).ToArray();
        var set = new Rows(features, _heads.Length);
        if (data.Classes is null)
        {
            set.Values = rows.Select(r => (double)data.Table.Rows[r][data.LabelIndex]!).ToArray();
        }
        else
        {
            set.Classes = rows.Select(r => data.IndexOfClass(data.Table.Rows[r][data.LabelIndex]!)).ToArray();
        }

        // The whole model on (up to) the first 200 rows, against ML.NET's scores of the same rows.
        var check = Math.Min(200, features.Length);
        var raw = new double[_heads.Length][];
        for (var h = 0; h < _heads.Length; h++)
        {
            raw[h] = features.Take(check).Select(x => _heads[h].Trees.Sum(t => Output(t, x))).ToArray();
        }

        var reason = _task switch
        {
            TrainingNames.Regression => Compare("Score", scored.GetColumn<float>("Score").Take(check).Select(v => new[] { (double)v }), raw[0].Select(v => new[] { v })),
            TrainingNames.Binary => Compare("Score", scored.GetColumn<float>("Score").Take(check).Select(v => new[] { (double)v }), raw[0].Select(v => new[] { v }))
                ?? Compare("Probability", scored.GetColumn<float>("Probability").Take(check).Select(v => new[] { (double)v }), raw[0].Select(v => new[] { Probability(0, v) })),
            _ => MulticlassFormula(scored.GetColumn<VBuffer<float>>("Score").Take(check).Select(v => v.DenseValues().Select(x => (double)x).ToArray()).ToArray(), raw),
        };
        return reason is null ? (set, null) : (null, reason);
    }

    // One-versus-all models normalise the per-class probabilities, or (LightGBM's softmax objective) take the softmax of
    // the raw scores; the formula that reproduces ML.NET's scores is the model's.
    private string? MulticlassFormula(double[][] expected, double[][] raw)
    {
        var rows = expected.Length;
        double[][] Scores() => Enumerable.Range(0, rows).Select(i => ClassProbabilities(raw.Select(r => r[i]).ToArray())).ToArray();
        _softmax = false;
        if (Compare("Score", expected, Scores()) is not { } normalised)
        {
            return null;
        }

        _softmax = true;
        return Compare("Score", expected, Scores()) is null ? null : normalised;
    }

    private static string? Compare(string column, IEnumerable<double[]> expected, IEnumerable<double[]> computed)
    {
        var row = 0;
        foreach (var (e, c) in expected.Zip(computed))
        {
            if (e.Length != c.Length)
            {
                return $"{column} has {e.Length} values per row, the trees give {c.Length}";
            }

            for (var i = 0; i < e.Length; i++)
            {
                if (Math.Abs(e[i] - c[i]) > 1e-4 * (1 + Math.Abs(e[i])))
                {
                    return $"the trees scored row {row} as {c[i]} where ML.NET's {column} is {e[i]}";
                }
            }

            row++;
        }

        return null;
    }

    /// <summary>Adds the trees of iterations up to <paramref name="iteration"/> to each row's scores and returns the metrics there.</summary>
    public Dictionary<string, double> Point(Rows set, int iteration, string prefix)
    {
        for (var h = 0; h < _heads.Length; h++)
        {
            var trees = _heads[h].Trees;
            for (var t = set.Done; t < Math.Min(iteration, trees.Count); t++)
            {
                for (var i = 0; i < set.Features.Length; i++)
                {
                    set.Raw[h][i] += Output(trees[t], set.Features[i]);
                }
            }
        }

        set.Done = iteration;
        var n = set.Features.Length;
        if (set.Values is not null)
        {
            double se = 0;
            for (var i = 0; i < n; i++)
            {
                se += (set.Raw[0][i] - set.Values[i]) * (set.Raw[0][i] - set.Values[i]);
            }

            return new Dictionary<string, double> { [prefix + "rmse"] = Math.Sqrt(se / n) };
        }

        // Log-loss and accuracy as the final evaluation computes them (the first largest probability is the class).
        double loss = 0;
        var correct = 0;
        for (var i = 0; i < n; i++)
        {
            var truth = set.Classes![i];
            var probabilities = _heads.Length == 1 ? [1 - Probability(0, set.Raw[0][i]), Probability(0, set.Raw[0][i])] : ClassProbabilities(set.Raw.Select(r => r[i]).ToArray());
            var predicted = _heads.Length == 1 ? (set.Raw[0][i] > 0 ? 1 : 0) : Array.IndexOf(probabilities, probabilities.Max());
            correct += predicted == truth ? 1 : 0;
            loss -= Math.Log(Math.Clamp(probabilities[truth], 1e-15, 1));
        }

        return new Dictionary<string, double> { [prefix + "loss"] = loss / n, [prefix + "accuracy"] = (double)correct / n };
    }

    private double Probability(int head, double raw) => _heads[head].Calibrator is { } calibrator ? calibrator.PredictProbability((float)raw) : raw;

    private double[] ClassProbabilities(double[] raw)
    {
        if (_softmax)
        {
            var max = raw.Max();
            var exp = raw.Select(v => Math.Exp(v - max)).ToArray();
            var total = exp.Sum();
            return exp.Select(v => v / total).ToArray();
        }

        var p = raw.Select((v, h) => Probability(h, v)).ToArray();
        var sum = p.Sum();
        return sum > 0 ? p.Select(v => v / sum).ToArray() : p;
    }

    // A tree's output for one row, walked like ML.NET's own tree: at or below the threshold goes left, a categorical
    // split goes right when any of its one-hot slots is set, and a tree without a split adds nothing.
    private static double Output(RegressionTree tree, float[] x)
    {
        if (tree.NumberOfNodes == 0)
        {
            return 0;
        }

        var node = 0;
        while (node >= 0)
        {
            if (tree.CategoricalSplitFlags[node])
            {
                var next = tree.LeftChild[node];
                foreach (var f in tree.GetCategoricalSplitFeaturesAt(node))
                {
                    if (x[f] > 0)
                    {
                        next = tree.RightChild[node];
                        break;
                    }
                }

                node = next;
            }
            else
            {
                node = x[tree.NumericalSplitFeatureIndexes[node]] <= tree.NumericalSplitThresholds[node] ? tree.LeftChild[node] : tree.RightChild[node];
            }
        }

        return tree.LeafValues[~node];
    }

    /// <summary>Rows with their features, true labels and running scores per class model.</summary>
    internal sealed class Rows(float[][] features, int heads)
    {
        public float[][] Features { get; } = features;

        public double[]? Values { get; set; }

        public int[]? Classes { get; set; }

        public double[][] Raw { get; } = Enumerable.Range(0, heads).Select(_ => new double[features.Length]).ToArray();

        public int Done { get; set; }
    }

    private sealed record Head(IReadOnlyList<RegressionTree> Trees, ICalibrator? Calibrator);
}
