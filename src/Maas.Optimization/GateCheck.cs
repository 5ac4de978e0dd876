namespace Maas.Optimization;

/// <summary>One check of a gate: the metric, its value, the threshold and whether it held.</summary>
public sealed record GateCheck(string Name, string Metric, double? Value, double? Threshold, bool Passed, string? Note = null);
