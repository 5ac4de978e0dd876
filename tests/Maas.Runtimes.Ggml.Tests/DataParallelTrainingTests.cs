using Maas.Core.Training;
using Maas.Testing;

namespace Maas.Runtimes.Ggml.Tests;

/// <summary>
/// With two threads a step computes two halves of the batch on a thread each and takes the optimiser step on their
/// summed gradients (GgmlTrainingOptions.DataParallel); it must train what one ggml-opt graph over the whole batch
/// trains, up to float summation order, and the same weights for a seed whichever thread count the timing picks.
/// </summary>
public sealed class DataParallelTrainingTests
{
    private const int Size = 12;

    // A strided convolution after an average pool, then dropout: the halves' dropout masks are the whole batch's.
    private static readonly NetworkLayer[] StridedWithDropout =
        [.. ConvolutionColumnsTests.StridedAfterAveragePool[..^1], new() { Type = "dropout", Rate = 0.3 }, new() { Type = "dense" }];

    public static TheoryData<string, int> Networks => new() { { "default", 20 }, { "default", 7 }, { "strided-dropout", 20 } };

    [Theory]
    [MemberData(nameof(Networks))]
    public void Halves_give_the_loss_gradients_and_logits_of_the_whole_batch(string name, int batchSize)
    {
        var layers = name == "default" ? NetworkShapes.DefaultCnn : StridedWithDropout;
        var (images, labels) = TinyImages.Generate(batchSize, Size, seed: 6);
        var x = TinyImages.Floats(images);
        var batch = Enumerable.Range(0, batchSize).ToArray();

        // One SGD step with learning rate 1 and no weight decay moves each weight by minus its gradient.
        (double Loss, double Accuracy, GgmlWeights Before, GgmlWeights After, float[] Logits) Step(bool parallel)
        {
            var options = new GgmlTrainingOptions { Optimizer = "sgd", LearningRate = 1, BatchSize = batchSize, Seed = 9, Threads = parallel ? 2 : 1 };
            using var network = GgmlNetwork.Create(layers, new([1, Size, Size]), 3, options);
            Assert.Equal(parallel, network.DataParallel);
            var before = network.Weights();
            var epoch = network.TrainEpoch(x, labels, batch, CancellationToken.None);
            return (epoch.TrainLoss, epoch.TrainAccuracy, before, network.Weights(), network.Logits(x, batch));
        }

        var whole = Step(parallel: false);
        var halves = Step(parallel: true);
        Assert.True(Math.Abs(halves.Loss - whole.Loss) <= 1e-5 * Math.Abs(whole.Loss), $"loss {halves.Loss} on halves, {whole.Loss} on the whole batch");
        Assert.Equal(whole.Accuracy, halves.Accuracy, 6);
        foreach (var (layer, values) in whole.Before.Layers)
        {
            Assert.Equal(values, halves.Before.Layers[layer]);
            for (var t = 0; t < values.Count; t++)
            {
                var expected = values[t].Zip(whole.After.Layers[layer][t], (w0, w1) => w0 - w1).ToArray();
                var actual = values[t].Zip(halves.After.Layers[layer][t], (w0, w1) => w0 - w1).ToArray();
                var scale = expected.Max(Math.Abs);
                Assert.True(scale > 0, $"layer {layer} tensor {t} has no gradient");
                var worst = expected.Zip(actual, (e, a) => Math.Abs(e - a)).Max();
                Assert.True(worst <= 1e-4 * scale, $"layer {layer} tensor {t}: gradients differ by {worst} (largest {scale})");
            }
        }

        var worstLogit = whole.Logits.Zip(halves.Logits, (a, b) => Math.Abs(a - b)).Max();
        Assert.True(worstLogit <= 1e-4 * Math.Max(1, whole.Logits.Max(Math.Abs)), $"logits differ by {worstLogit}");
    }

    [Fact]
    public void Adamw_epochs_on_halves_follow_the_losses_of_the_whole_batch()
    {
        var (images, labels) = TinyImages.Generate(120, Size, seed: 8);
        var x = TinyImages.Floats(images);
        var rows = Enumerable.Range(0, 120).ToArray();
        double[] Losses(bool parallel)
        {
            var options = new GgmlTrainingOptions { BatchSize = 10, LearningRate = 0.003, WeightDecay = 0.01, Seed = 2, Threads = 2, DataParallel = parallel };
            using var network = GgmlNetwork.Create(NetworkShapes.DefaultCnn, new([1, Size, Size]), 3, options);
            Assert.Equal(parallel, network.DataParallel);
            return Enumerable.Range(0, 3).Select(_ => network.TrainEpoch(x, labels, rows, CancellationToken.None).TrainLoss).ToArray();
        }

        var whole = Losses(parallel: false);
        var halves = Losses(parallel: true);
        Assert.True(whole[^1] < whole[0], $"loss {whole[0]} → {whole[^1]}");
        for (var e = 0; e < whole.Length; e++)
        {
            Assert.True(Math.Abs(halves[e] - whole[e]) <= 1e-4 * Math.Abs(whole[e]), $"epoch {e + 1}: {halves[e]} on halves, {whole[e]} on the whole batch");
        }
    }

    [Fact]
    public void The_same_seed_trains_the_same_weights_on_halves_whatever_threads_and_nice_value_compute_them()
    {
        // The timing switches between the halves one after the other and both at once (it probes both in the first
        // steps of every epoch); the summation order is fixed, so only the speed may change.
        var (images, labels) = TinyImages.Generate(120, Size, seed: 4);
        var x = TinyImages.Floats(images);
        var rows = Enumerable.Range(0, 120).ToArray();
        GgmlWeights Train(int nice)
        {
            using var network = GgmlNetwork.Create(NetworkShapes.DefaultCnn, new([1, Size, Size]), 3, new() { BatchSize = 10, Seed = 5, Threads = 2, Nice = nice });
            Assert.True(network.DataParallel);
            network.TrainEpoch(x, labels, rows, CancellationToken.None);
            network.TrainEpoch(x, labels, rows, CancellationToken.None);
            return network.Weights();
        }

        var first = Train(0);
        foreach (var other in new[] { Train(0), Train(5) })
        {
            Assert.Equal(first.Layers.Keys, other.Layers.Keys);
            foreach (var (layer, values) in first.Layers)
            {
                Assert.Equal(values, other.Layers[layer]);
            }
        }
    }

    [Fact]
    public void A_run_on_halves_resumed_from_a_checkpoint_goes_on_exactly_as_the_uninterrupted_one()
    {
        var (images, labels) = TinyImages.Generate(100, Size, seed: 3);
        var x = TinyImages.Floats(images);
        var rows = Enumerable.Range(0, 100).ToArray();
        GgmlNetwork Create() => GgmlNetwork.Create(NetworkShapes.DefaultCnn, new([1, Size, Size]), 3, new() { BatchSize = 10, LearningRate = 0.003, Seed = 11, Threads = 2 });
        var (uninterrupted, weights, state) = CheckpointRuns.Run(Create, x, labels, rows, epochs: 4);

        Assert.Equal(20, state.Steps);
        Assert.Contains(state.Moments[1], v => v > 0);
        using var resumed = Create();
        resumed.Restore(weights);
        resumed.RestoreOptimizer(state);
        var continued = Enumerable.Range(0, 2).Select(_ => resumed.TrainEpoch(x, labels, rows, CancellationToken.None).TrainLoss).ToArray();
        Assert.Equal(uninterrupted[2..], continued);
    }

    [Fact]
    public void A_network_with_batch_norm_keeps_one_graph_over_the_whole_batch()
    {
        // Batch statistics over a half are not the batch's: such a network does not split.
        NetworkLayer[] layers =
        [
            new() { Type = "conv2d", Filters = 4, Kernel = 3, Padding = 1 },
            new() { Type = "batch_norm" },
            new() { Type = "relu" },
            new() { Type = "flatten" },
            new() { Type = "dense" },
        ];
        using var normed = GgmlNetwork.Create(layers, new([1, Size, Size]), 3, new() { Threads = 2 });
        Assert.False(normed.DataParallel);
        using var plain = GgmlNetwork.Create(NetworkShapes.DefaultCnn, new([1, Size, Size]), 3, new() { Threads = 2 });
        Assert.True(plain.DataParallel);
    }
}
