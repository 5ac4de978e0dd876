namespace Maas.Core.Training;

/// <summary>A trial's answer: its hyperparameters and validation metrics.</summary>
public sealed record TrialResult(int Index, IReadOnlyDictionary<string, double> Hyperparameters, IReadOnlyDictionary<string, double> Metrics);
