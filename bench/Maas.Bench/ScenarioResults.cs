using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Maas.Bench;

/// <summary>
/// What the scenarios that write their own results file share (eviction, deployment-sync): percentiles, and the
/// numbers printed and written to bench/results/&lt;scenario&gt;.json under one header (scenario, cores, time).
/// </summary>
internal static class ScenarioResults
{
    /// <summary>The value at quantile <paramref name="p"/> (nearest rank); NaN when there are none.</summary>
    public static double Percentile(IReadOnlyCollection<double> values, double p)
    {
        if (values.Count == 0)
        {
            return double.NaN;
        }

        var sorted = values.Order().ToArray();
        return sorted[Math.Clamp((int)Math.Ceiling(p * sorted.Length) - 1, 0, sorted.Length - 1)];
    }

    /// <summary>
    /// The machine's one-minute load average now (/proc/loadavg; NaN where there is none): the machine is shared, so
    /// every result says how busy it was around the run.
    /// </summary>
    public static double LoadAverage()
    {
        try
        {
            var first = File.ReadAllText("/proc/loadavg").Split(' ')[0];
            return double.Parse(first, CultureInfo.InvariantCulture);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException)
        {
            return double.NaN;
        }
    }

    /// <summary>
    /// Prints the numbers and, unless the run is a trial (--write no), writes them to bench/results/<paramref name="scenario"/>.json,
    /// with the load average at the end of the run (<c>load_average_1m_at_end</c>) next to the scenario's own numbers.
    /// </summary>
    public static async Task ReportAsync(BenchOptions options, string scenario, IReadOnlyDictionary<string, double> numbers)
    {
        numbers = new Dictionary<string, double>(numbers) { ["load_average_1m_at_end"] = LoadAverage() };
        foreach (var (key, value) in numbers)
        {
            Console.WriteLine($"  {key} = {value.ToString("0.###", CultureInfo.InvariantCulture)}");
        }

        if (!options.Write)
        {
            return;
        }

        var path = Path.Combine(options.RepoRoot, "bench", "results", scenario + ".json");
        var json = new JsonObject { ["scenario"] = scenario, ["cores"] = Environment.ProcessorCount, ["at"] = DateTimeOffset.UtcNow.ToString("O", CultureInfo.InvariantCulture) };
        foreach (var (key, value) in numbers)
        {
            json[key] = double.IsFinite(value) ? Math.Round(value, 3) : null;
        }

        // Relaxed escaping: the time's "+00:00" stays readable (the file is never embedded in HTML).
        await File.WriteAllTextAsync(path,
            json.ToJsonString(new JsonSerializerOptions { WriteIndented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }) + "\n");
        Console.WriteLine($"wrote {path}");
    }
}
