using Maas.Core.Formats;

namespace Maas.Optimization;

/// <summary>The thresholds a rewritten version must meet against its source, by format; and their defaults.</summary>
public static class OptimizationGate
{
    /// <summary>Gate keys of ONNX methods and the report metric each bounds ("max_" an upper bound, "min_" a lower one).</summary>
    public static IReadOnlyDictionary<string, string> OnnxChecks { get; } = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        ["max_abs_diff"] = "max_abs_diff",
        ["max_mean_abs_diff"] = "mean_abs_diff",
        ["max_relative_mean_abs_diff"] = "relative_mean_abs_diff",
        ["min_top1_agreement"] = "top1_agreement",
        ["max_latency_ratio"] = "latency_ratio",
        ["max_size_ratio"] = "size_ratio",
        ["max_accuracy_drop"] = "accuracy_drop",
        ["min_throughput_ratio"] = "throughput_ratio",
    };

    /// <summary>The accuracy drop (source minus result, as a fraction) a fine-tuned version may have by default: 1 point.</summary>
    public const double DefaultMaxAccuracyDrop = 0.01;

    /// <summary>Gate keys of GGUF methods and the report metric each bounds.</summary>
    public static IReadOnlyDictionary<string, string> GgufChecks { get; } = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        ["max_perplexity_increase"] = "perplexity_increase",
        ["max_size_ratio"] = "size_ratio",
        ["min_generation_speedup"] = "generation_speedup",
        ["min_prompt_speedup"] = "prompt_speedup",
    };

    /// <summary>
    /// The gate used when a job gives none. A job that measured accuracy on labelled rows is held to at most
    /// <see cref="DefaultMaxAccuracyDrop"/> below the source: a fine-tuned one to that alone, since training moves the
    /// outputs away from the source's by design; an untrained rewrite (options.evaluation) to that as well as the output checks.
    /// </summary>
    public static IReadOnlyDictionary<string, double> Default(ModelFormat format, bool accuracy = false, bool trained = false) => format == ModelFormat.Gguf
        ? new Dictionary<string, double> { ["max_perplexity_increase"] = 0.10 }
        : accuracy && trained ? new Dictionary<string, double> { ["max_accuracy_drop"] = DefaultMaxAccuracyDrop }
        : accuracy ? new Dictionary<string, double> { ["max_relative_mean_abs_diff"] = 0.05, ["min_top1_agreement"] = 0.9, ["max_accuracy_drop"] = DefaultMaxAccuracyDrop }
        : new Dictionary<string, double> { ["max_relative_mean_abs_diff"] = 0.05, ["min_top1_agreement"] = 0.9 };

    /// <summary>The keys a gate of <paramref name="format"/> may hold.</summary>
    public static IReadOnlyDictionary<string, string> Checks(ModelFormat format) => format == ModelFormat.Gguf ? GgufChecks : OnnxChecks;

    /// <summary>
    /// Evaluates <paramref name="gate"/> (or the default; <paramref name="trained"/>: the result was fine-tuned) on the
    /// report's <paramref name="metrics"/>; outputs must be finite whatever the gate.
    /// </summary>
    public static GateResult Evaluate(ModelFormat format, IReadOnlyDictionary<string, double>? gate, IReadOnlyDictionary<string, double?> metrics, bool trained = false)
    {
        var explicitGate = gate is not null;
        var checks = new List<GateCheck>();
        var finiteMetric = format == ModelFormat.Gguf ? "perplexity" : "nonfinite_values";
        var finite = format == ModelFormat.Gguf
            ? metrics.GetValueOrDefault("perplexity") is { } p && double.IsFinite(p)
            : metrics.GetValueOrDefault("nonfinite_values") is 0;
        checks.Add(new GateCheck(format == ModelFormat.Gguf ? "finite_perplexity" : "finite_outputs", finiteMetric, metrics.GetValueOrDefault(finiteMetric), null, finite));
        var known = Checks(format);
        foreach (var (name, threshold) in gate ?? Default(format, metrics.GetValueOrDefault("accuracy_drop") is not null, trained))
        {
            var metric = known[name];
            var value = metrics.GetValueOrDefault(metric);
            if (value is null)
            {
                // A default check that does not apply (no classifier output) is dropped; one the caller asked for fails.
                if (explicitGate)
                {
                    checks.Add(new GateCheck(name, metric, null, threshold, false, $"the report has no {metric} for this model"));
                }

                continue;
            }

            var passed = double.IsFinite(value.Value) && (name.StartsWith("max_", StringComparison.Ordinal) ? value.Value <= threshold : value.Value >= threshold);
            checks.Add(new GateCheck(name, metric, value, threshold, passed));
        }

        return new GateResult(checks.All(c => c.Passed), checks);
    }
}
