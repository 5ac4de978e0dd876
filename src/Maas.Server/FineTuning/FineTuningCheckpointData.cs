namespace Maas.Server.FineTuning;

/// <summary>What a fine-tuning job keeps with each epoch's checkpoint, so a worker that resumes it reports the whole run.</summary>
internal sealed record FineTuningCheckpointData(double? BaseValidationLoss, IReadOnlyList<FineTuningEpochMetrics> Epochs);
