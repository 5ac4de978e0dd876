namespace Maas.Server.FineTuning;

/// <summary>What a succeeded fine-tuning job made.</summary>
internal sealed record FineTuningResult(string FineTunedModel, string Model, int Version, long TrainedTokens, double? BaseValidationLoss,
    IReadOnlyList<FineTuningEpochMetrics> Epochs);
