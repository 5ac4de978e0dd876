namespace Maas.Runtimes.Ggml.Tests;

/// <summary>The two runs a resume test compares: one uninterrupted, one stopped after two epochs with its checkpoint.</summary>
internal static class CheckpointRuns
{
    /// <summary>
    /// Each epoch's training loss of a network trained <paramref name="epochs"/> epochs without a stop, and the weights
    /// and optimiser state of a second network (a new ggml-opt context) after two epochs.
    /// </summary>
    public static (double[] Uninterrupted, GgmlWeights Weights, GgmlOptimizerState State) Run(
        Func<GgmlNetwork> create, float[] x, int[] labels, int[] rows, int epochs)
    {
        double[] uninterrupted;
        using (var network = create())
        {
            uninterrupted = Enumerable.Range(0, epochs).Select(_ => network.TrainEpoch(x, labels, rows, CancellationToken.None).TrainLoss).ToArray();
        }

        using var first = create();
        first.TrainEpoch(x, labels, rows, CancellationToken.None);
        first.TrainEpoch(x, labels, rows, CancellationToken.None);
        return (uninterrupted, first.Weights(), first.OptimizerState());
    }
}
