namespace Maas.Core.Training;

/// <summary>One row's answer from a tabular model: a value (regression), or a class index with class probabilities.</summary>
public sealed record TabularPrediction(double? Value, int? ClassIndex, double[]? Probabilities);
