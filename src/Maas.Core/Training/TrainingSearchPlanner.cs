using System.Globalization;
using System.Text.Json;

namespace Maas.Core.Training;

/// <summary>Turns the "search" part of a training request into the list of trials, checking every value.</summary>
public static class TrainingSearchPlanner
{
    private static readonly string[] Larger = ["accuracy", "macro_f1", "macro_precision", "macro_recall", "auc", "r2"];
    private static readonly string[] Smaller = ["log_loss", "rmse", "mae", "mse"];
    private static readonly string[] SearchFields = ["method", "space", "trials", "metric", "seed"];
    private static readonly string[] RangeFields = ["min", "max", "scale", "integer", "steps"];

    /// <summary>
    /// Plans <paramref name="search"/>: <c>{"method"?: "grid"|"random", "space": {"name": [values] | {"min", "max",
    /// "scale"?: "linear"|"log", "integer"?, "steps"?}}, "trials"?, "metric"?, "seed"?}</c>. Throws
    /// <see cref="ArgumentException"/> with a message for the caller when anything is wrong.
    /// </summary>
    public static TrainingSearch Plan(JsonElement search, string task, string trainer, IReadOnlyDictionary<string, double> fixedValues, int defaultSeed, int maxTrials)
    {
        if (search.ValueKind != JsonValueKind.Object)
        {
            throw new ArgumentException("search must be an object: {\"method\", \"space\", \"trials\", \"metric\"}");
        }

        // A misspelt field ("trails", "metrc") would otherwise be dropped without a word: a grid then runs every point,
        // a search compares trials by the default metric.
        CheckFields(search, "search", SearchFields);
        var dimensions = ParseSpace(search, trainer, fixedValues);

        // A field of the wrong JSON type is the caller's mistake: reading it as a string or number would throw (a 500).
        var method = !search.TryGetProperty("method", out var m) || m.ValueKind == JsonValueKind.Null
            ? dimensions.All(d => d.Values is not null) ? "grid" : "random"
            : m.ValueKind == JsonValueKind.String ? m.GetString()! : throw new ArgumentException("search.method must be \"grid\" or \"random\"");
        int? budget = search.TryGetProperty("trials", out var t) ? t.ValueKind == JsonValueKind.Number && t.TryGetInt32(out var n) &&
            n >= 1 ? n : throw new ArgumentException("search.trials must be a whole number of at least 1") : null;
        if (budget > maxTrials)
        {
            throw new ArgumentException($"search.trials is {budget}, over the limit of {maxTrials} (Maas:Training:MaxSearchTrials)");
        }

        var seed = !search.TryGetProperty("seed", out var s) || s.ValueKind == JsonValueKind.Null
            ? defaultSeed
            : s.ValueKind == JsonValueKind.Number && s.TryGetInt32(out var given) &&
                given >= 0 ? given : throw new ArgumentException($"search.seed must be a whole number from 0 to {int.MaxValue}, not {Shorten(s.GetRawText())}");
        var trials = method switch
        {
            "grid" => GridTrials(dimensions, budget, maxTrials),
            "random" => RandomTrials(dimensions, budget ?? throw new ArgumentException("a random search needs search.trials (how many to run)"), seed),
            _ => throw new ArgumentException($"search.method must be grid or random, not '{Shorten(method)}'"),
        };

        var metric = ParseMetric(search, task);
        foreach (var trial in trials)
        {
            foreach (var (key, value) in fixedValues)
            {
                trial[key] = value;
            }
        }

        return new TrainingSearch { Method = method, Metric = metric, Maximize = Larger.Contains(metric), Trials = trials };
    }

    // search.space: at least one hyperparameter of the trainer, none also fixed in hyperparameters, each a list or a range.
    private static List<Dimension> ParseSpace(JsonElement search, string trainer, IReadOnlyDictionary<string, double> fixedValues)
    {
        var allowed = TrainingNames.Hyperparameters[trainer];
        if (!search.TryGetProperty("space", out var space) || space.ValueKind != JsonValueKind.Object || !space.EnumerateObject().Any())
        {
            throw new ArgumentException($"search.space must name at least one hyperparameter of {trainer} ({string.Join(", ", allowed.Keys)}) with a list of values or a range");
        }

        var dimensions = new List<Dimension>();
        foreach (var property in space.EnumerateObject())
        {
            if (!allowed.TryGetValue(property.Name, out var range))
            {
                throw new ArgumentException($"search.space: {trainer} takes {string.Join(", ", allowed.Keys)}, not '{Shorten(property.Name)}'");
            }

            if (dimensions.Any(d => d.Name == property.Name))
            {
                throw new ArgumentException($"search.space gives '{property.Name}' more than once");
            }

            if (fixedValues.ContainsKey(property.Name))
            {
                throw new ArgumentException($"search.space: '{property.Name}' is also given in hyperparameters; give it in one place");
            }

            dimensions.Add(Dimension.Parse(property.Name, property.Value, range));
        }

        return dimensions;
    }

    // Every point of the grid; refused when a dimension is a range without steps or the grid is larger than allowed.
    private static List<Dictionary<string, double>> GridTrials(List<Dimension> dimensions, int? budget, int maxTrials)
    {
        var missing = dimensions.FirstOrDefault(d => d.Values is null);
        if (missing is not null)
        {
            throw new ArgumentException($"search.space.{missing.Name}: a grid needs a list of values or a range with \"steps\"");
        }

        var size = dimensions.Aggregate(1L, (acc, d) => acc * d.Values!.Count);
        var limit = Math.Min(budget ?? maxTrials, maxTrials);
        if (size > limit)
        {
            throw new ArgumentException($"the grid has {size} points, over {(budget is null ? $"the limit of {maxTrials} (Maas:Training:MaxSearchTrials)" : $"search.trials " +
                $"({budget})")}; use fewer values or \"method\": \"random\"");
        }

        List<Dictionary<string, double>> trials = [new Dictionary<string, double>()];
        foreach (var d in dimensions)
        {
            trials = [.. trials.SelectMany(partial => d.Values!.Select(v => new Dictionary<string, double>(partial) { [d.Name] = v }))];
        }

        return trials;
    }

    // `count` points drawn from the space with a generator seeded by `seed`, so a resubmitted search draws the same.
    private static List<Dictionary<string, double>> RandomTrials(List<Dimension> dimensions, int count, int seed)
    {
        var random = new Random(seed);
        return [.. Enumerable.Range(0, count).Select(_ => dimensions.ToDictionary(d => d.Name, d => d.Sample(random)))];
    }

    // search.metric (a "validation_" prefix allowed), one of the task's: rmse for regression and accuracy otherwise when not given.
    private static string ParseMetric(JsonElement search, string task)
    {
        var metric = !search.TryGetProperty("metric", out var mt) || mt.ValueKind == JsonValueKind.Null
            ? task == TrainingNames.Regression ? "rmse" : "accuracy"
            : mt.ValueKind == JsonValueKind.String ? mt.GetString()! : throw new ArgumentException("search.metric must be a string naming a validation metric");
        metric = metric.StartsWith("validation_", StringComparison.Ordinal) ? metric["validation_".Length..] : metric;
        var regressionMetric = metric is "rmse" or "mae" or "mse" or "r2";
        if (!Larger.Contains(metric) && !Smaller.Contains(metric) || regressionMetric != (task == TrainingNames.Regression) || (metric == "auc" && task != TrainingNames.Binary))
        {
            var names = task == TrainingNames.Regression ? "rmse, mae, r2" : task == TrainingNames.Binary ? "accuracy, macro_f1, log_loss, auc" : "accuracy, macro_f1, log_loss";
            throw new ArgumentException($"search.metric for {task} must be one of {names}, not '{Shorten(metric)}'");
        }

        return metric;
    }

    private static string Shorten(string text) => text.Length > 40 ? text[..40] + "..." : text;

    // Every field of an object is one of `known`, each given once (JSON allows a repeated key; which was meant is anyone's guess).
    private static void CheckFields(JsonElement value, string where, string[] known)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var property in value.EnumerateObject())
        {
            if (!known.Contains(property.Name, StringComparer.Ordinal))
            {
                throw new ArgumentException($"{where} takes {string.Join(", ", known)}, not '{Shorten(property.Name)}'");
            }

            if (!seen.Add(property.Name))
            {
                throw new ArgumentException($"{where} gives '{property.Name}' more than once");
            }
        }
    }

    private sealed record Dimension(string Name, IReadOnlyList<double>? Values, double Min, double Max, bool Log, bool Integer)
    {
        public static Dimension Parse(string name, JsonElement value, (double Min, double Max) range)
        {
            double Check(double v) => double.IsFinite(v) && v >= range.Min && v <= range.Max
                ? v
                : throw new ArgumentException($"search.space.{name}: {v.ToString(CultureInfo.InvariantCulture)} is outside {range.Min.ToString(CultureInfo.InvariantCulture)} " +
                    $"to {range.Max.ToString(CultureInfo.InvariantCulture)}");

            double Whole(double v) => !TrainingNames.WholeNumberHyperparameters.Contains(name) || v == Math.Floor(v)
                ? v
                : throw new ArgumentException($"search.space.{name}: {v.ToString(CultureInfo.InvariantCulture)} is not a whole number");

            if (value.ValueKind == JsonValueKind.Array)
            {
                var values = value.EnumerateArray().Select(v => v.ValueKind == JsonValueKind.Number ? Whole(Check(v.GetDouble()))
                    : throw new ArgumentException($"search.space.{name}: values must be numbers")).Distinct().ToArray();
                return values.Length == 0 ? throw new ArgumentException($"search.space.{name}: the list is empty")
                    : new Dimension(name, values, values.Min(), values.Max(), false, false);
            }

            if (value.ValueKind != JsonValueKind.Object || !value.TryGetProperty("min", out var minElement) || !value.TryGetProperty("max", out var maxElement)
                || minElement.ValueKind != JsonValueKind.Number || maxElement.ValueKind != JsonValueKind.Number)
            {
                throw new ArgumentException($"search.space.{name}: give a list of values or {{\"min\", \"max\", \"scale\"?, \"integer\"?, \"steps\"?}}");
            }

            CheckFields(value, $"search.space.{name}", RangeFields);
            var (min, max) = (Check(minElement.GetDouble()), Check(maxElement.GetDouble()));
            if (min > max)
            {
                throw new ArgumentException($"search.space.{name}: min is above max");
            }

            var scale = !value.TryGetProperty("scale", out var sc) ? "linear" : sc.ValueKind == JsonValueKind.String ? sc.GetString() : null;
            if (scale is not ("linear" or "log") || (scale == "log" && min <= 0))
            {
                throw new ArgumentException($"search.space.{name}: scale must be linear or log (log needs min above 0)");
            }

            // A count (iterations, leaves, ...) is drawn as a whole number whether or not the range says "integer".
            var integer = (value.TryGetProperty("integer", out var i)
                    && (i.ValueKind is JsonValueKind.True or JsonValueKind.False or JsonValueKind.Null ? i.ValueKind == JsonValueKind.True
                        : throw new ArgumentException($"search.space.{name}: integer must be true or false")))
                || TrainingNames.WholeNumberHyperparameters.Contains(name);
            var log = scale == "log";
            IReadOnlyList<double>? points = null;
            if (value.TryGetProperty("steps", out var st))
            {
                var steps = st.ValueKind == JsonValueKind.Number && st.TryGetInt32(out var k) &&
                    k is >= 2 and <= 100 ? k : throw new ArgumentException($"search.space.{name}: steps must be 2 to 100");
                points = [.. Enumerable.Range(0, steps).Select(j => Round(Interpolate(min, max, log, j / (double)(steps - 1)), integer)).Distinct()];
            }

            return new Dimension(name, points, min, max, log, integer);
        }

        public double Sample(Random random) => Values is { } values ? values[random.Next(values.Count)] : Round(Interpolate(Min, Max, Log, random.NextDouble()), Integer);

        private static double Interpolate(double min, double max, bool log, double f) =>
            log ? Math.Exp(Math.Log(min) + (f * (Math.Log(max) - Math.Log(min)))) : min + (f * (max - min));

        private static double Round(double v, bool integer) => integer ? Math.Round(v) : v;
    }
}
