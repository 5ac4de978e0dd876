namespace Maas.Server.FineTuning;

/// <summary>The losses of one epoch (also the data of its checkpoint event), and how much of it gave way to serving.</summary>
/// <param name="ServingSteps">Windows of this epoch (training and validation) that overlapped serving in this process, each followed by a wait.</param>
/// <param name="YieldedSeconds">Time this epoch waited for serving (Maas:Training:ServingShare).</param>
internal sealed record FineTuningEpochMetrics(int Epoch, long Step, double TrainLoss, double? ValidLoss, double TokensPerSecond, long ServingSteps = 0, double YieldedSeconds = 0);
