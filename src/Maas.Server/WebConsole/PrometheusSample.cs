namespace Maas.Server.WebConsole;

/// <summary>One sample line of the Prometheus text format: a metric name, its labels and a value.</summary>
public sealed record PrometheusSample(string Name, IReadOnlyDictionary<string, string> Labels, double Value)
{
    /// <summary>A label's value, or "" when the sample has no such label.</summary>
    public string Label(string name) => Labels.TryGetValue(name, out var value) ? value : "";
}
