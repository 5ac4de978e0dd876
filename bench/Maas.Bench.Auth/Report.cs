using System.Globalization;
using System.Text;

namespace Maas.Bench.Auth;

/// <summary>Percentiles of a sample.</summary>
internal static class Percentiles
{
    /// <summary>The <paramref name="p"/> quantile (0..1) of <paramref name="values"/> by nearest rank.</summary>
    public static double Of(double[] values, double p)
    {
        var sorted = (double[])values.Clone();
        Array.Sort(sorted);
        return sorted[Math.Clamp((int)Math.Ceiling(p * sorted.Length) - 1, 0, sorted.Length - 1)];
    }
}

/// <summary>The result table for docs/benchmarks.md.</summary>
internal static class Report
{
    public static string Markdown(double[] gate, double[] bare, int iterations)
    {
        var text = new StringBuilder();
        text.AppendLine(CultureInfo.InvariantCulture, $"Auth gate per request, {iterations:N0} calls ({Environment.ProcessorCount} cores, .NET {Environment.Version}):");
        text.AppendLine();
        text.AppendLine("| | p50 µs | p90 µs | p99 µs |");
        text.AppendLine("| --- | ---: | ---: | ---: |");
        Row("gate + no-op endpoint", gate);
        Row("no-op endpoint alone", bare);
        text.AppendLine(CultureInfo.InvariantCulture, $"| **added by the gate** | **{Percentiles.Of(gate, 0.5) - Percentiles.Of(bare, 0.5):0.00}** | " +
            $"{Percentiles.Of(gate, 0.9) - Percentiles.Of(bare, 0.9):0.00} | {Percentiles.Of(gate, 0.99) - Percentiles.Of(bare, 0.99):0.00} |");
        return text.ToString();

        void Row(string name, double[] values) =>
            text.AppendLine(CultureInfo.InvariantCulture,
            $"| {name} | {Percentiles.Of(values, 0.5):0.00} | {Percentiles.Of(values, 0.9):0.00} | {Percentiles.Of(values, 0.99):0.00} |");
    }
}
