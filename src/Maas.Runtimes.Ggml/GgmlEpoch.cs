namespace Maas.Runtimes.Ggml;

/// <summary>
/// One epoch's numbers: training loss and accuracy from ggml-opt, validation ones from a forward pass, and the
/// threads the last timing found fastest (see <see cref="GgmlTrainingOptions.Threads"/>).
/// </summary>
public sealed record GgmlEpoch(int Epoch, double TrainLoss, double TrainAccuracy, double? ValidationLoss, double? ValidationAccuracy, double Seconds, long Examples,
    int Threads = 1);
