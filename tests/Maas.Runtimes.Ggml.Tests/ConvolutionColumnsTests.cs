using Maas.Core.Training;
using Maas.Testing;

namespace Maas.Runtimes.Ggml.Tests;

/// <summary>
/// A convolution after the first gathers its columns with ggml_get_rows (its backward pass a scatter-add of rows);
/// the im2col path it replaced must give the same loss and gradients for the same seed.
/// </summary>
public sealed class ConvolutionColumnsTests
{
    private const int Size = 12;

    /// <summary>A strided convolution after an average pool (other tests of the trainer reuse it).</summary>
    internal static readonly NetworkLayer[] StridedAfterAveragePool =
    [
        new() { Type = "conv2d", Filters = 4, Kernel = 3, Padding = 1 },
        new() { Type = "relu" },
        new() { Type = "avg_pool", Kernel = 2 },
        new() { Type = "conv2d", Filters = 5, Kernel = 3, Stride = 2, Padding = 1 },
        new() { Type = "tanh" },
        new() { Type = "flatten" },
        new() { Type = "dense" },
    ];

    public static TheoryData<string> Networks => ["default", "strided"];

    [Theory]
    [MemberData(nameof(Networks))]
    public void Gathered_columns_give_the_loss_and_gradients_of_im2col(string name)
    {
        var layers = name == "default" ? NetworkShapes.DefaultCnn : StridedAfterAveragePool;
        var (images, labels) = TinyImages.Generate(20, Size, seed: 6);
        var x = TinyImages.Floats(images);
        var batch = Enumerable.Range(0, 20).ToArray();

        // One SGD step with learning rate 1 and no weight decay moves each weight by minus its gradient.
        (double Loss, GgmlWeights Before, GgmlWeights After) Step(bool gather)
        {
            var options = new GgmlTrainingOptions { Optimizer = "sgd", LearningRate = 1, BatchSize = 20, Seed = 9, Threads = 1, GatherColumns = gather };
            using var network = GgmlNetwork.Create(layers, new([1, Size, Size]), 3, options);
            Assert.Equal(gather ? 1 : 0, network.GatheredConvolutions); // the second convolution; the first has no input gradient
            var before = network.Weights();
            var loss = network.TrainEpoch(x, labels, batch, CancellationToken.None).TrainLoss;
            return (loss, before, network.Weights());
        }

        var im2col = Step(gather: false);
        var gathered = Step(gather: true);
        Assert.True(Math.Abs(gathered.Loss - im2col.Loss) <= 1e-5 * Math.Abs(im2col.Loss), $"loss {gathered.Loss} with gathered columns, {im2col.Loss} with im2col");
        foreach (var (layer, values) in im2col.Before.Layers)
        {
            Assert.Equal(values, gathered.Before.Layers[layer]);
            for (var t = 0; t < values.Count; t++)
            {
                var expected = values[t].Zip(im2col.After.Layers[layer][t], (w0, w1) => w0 - w1).ToArray();
                var actual = values[t].Zip(gathered.After.Layers[layer][t], (w0, w1) => w0 - w1).ToArray();
                var scale = expected.Max(Math.Abs);
                Assert.True(scale > 0, $"layer {layer} tensor {t} has no gradient");
                var worst = expected.Zip(actual, (e, a) => Math.Abs(e - a)).Max();
                Assert.True(worst <= 1e-4 * scale, $"layer {layer} tensor {t}: gradients differ by {worst} (largest {scale})");
            }
        }
    }

    /// <summary>
    /// The first convolution's kernel padded to a contraction of 16, the max-pools computed from the convolutions'
    /// quadrants, and the gathered contraction padded with zero rows.
    /// </summary>
    public static TheoryData<string, string> Formulations => new()
    {
        { "default", "padded-contraction" },
        { "strided", "padded-contraction" },
        { "default", "quadrants" },
        { "strided", "quadrants" },
        { "quadrant-tail", "quadrants" },
        { "default", "padded-gather" },
        { "strided", "padded-gather" },
    };

    [Theory]
    [MemberData(nameof(Formulations))]
    public void A_formulation_gives_the_loss_gradients_and_logits_of_the_one_it_replaces(string name, string formulation)
    {
        var layers = name switch
        {
            "default" => NetworkShapes.DefaultCnn,
            "strided" => StridedAfterAveragePool,

            // A max-pool after a gathered convolution whose output is odd (5x5 at 20x20 input): pool_2d there, quadrants
            // for the two before it.
            _ => [.. NetworkShapes.DefaultCnn.Take(6), new() { Type = "conv2d", Filters = 4, Kernel = 3, Padding = 1 }, new() { Type = "max_pool", Kernel = 2 },
                new() { Type = "flatten" }, new() { Type = "dense" }],
        };
        var size = name == "quadrant-tail" ? 20 : Size;
        var (images, labels) = TinyImages.Generate(20, size, seed: 6);
        var x = TinyImages.Floats(images);
        var batch = Enumerable.Range(0, 20).ToArray();
        (double Loss, GgmlWeights Before, GgmlWeights After, float[] Logits) Step(bool on)
        {
            var options = new GgmlTrainingOptions { Optimizer = "sgd", LearningRate = 1, BatchSize = 20, Seed = 9, Threads = 1 };
            options = formulation switch
            {
                "padded-contraction" => options with { PadContraction = on },
                "quadrants" => options with { PoolByQuadrants = on },
                _ => options with { PadGatheredContraction = on },
            };
            using var network = GgmlNetwork.Create(layers, new([1, size, size]), 3, options);
            if (formulation == "padded-contraction")
            {
                Assert.Equal(on ? 1 : 0, network.PaddedConvolutions); // the first convolution's 3x3x1 = 9 becomes 16
            }

            if (formulation == "quadrants")
            {
                // The default CNN's two convolutions (12x12 and 6x6 before their pools); none in the strided network
                // (an average pool); the first two of the third network, not its third (5x5 before the pool).
                Assert.Equal(on ? (name == "strided" ? 0 : 2) : 0, network.QuadrantPools);
            }

            var before = network.Weights();
            var loss = network.TrainEpoch(x, labels, batch, CancellationToken.None).TrainLoss;
            return (loss, before, network.Weights(), network.Logits(x, batch));
        }

        var plain = Step(on: false);
        var changed = Step(on: true);
        Assert.True(Math.Abs(changed.Loss - plain.Loss) <= 1e-5 * Math.Abs(plain.Loss), $"loss {changed.Loss} with {formulation}, {plain.Loss} without");
        AssertSameGradients(plain.Before, plain.After, changed.Before, changed.After);
        var worstLogit = plain.Logits.Zip(changed.Logits, (a, b) => Math.Abs(a - b)).Max();
        Assert.True(worstLogit <= 1e-4 * Math.Max(1, plain.Logits.Max(Math.Abs)), $"logits differ by {worstLogit}");
    }

    private static void AssertSameGradients(GgmlWeights expectedBefore, GgmlWeights expectedAfter, GgmlWeights actualBefore, GgmlWeights actualAfter)
    {
        foreach (var (layer, values) in expectedBefore.Layers)
        {
            Assert.Equal(values, actualBefore.Layers[layer]);
            for (var t = 0; t < values.Count; t++)
            {
                var expected = values[t].Zip(expectedAfter.Layers[layer][t], (w0, w1) => w0 - w1).ToArray();
                var actual = values[t].Zip(actualAfter.Layers[layer][t], (w0, w1) => w0 - w1).ToArray();
                var scale = expected.Max(Math.Abs);
                Assert.True(scale > 0, $"layer {layer} tensor {t} has no gradient");
                var worst = expected.Zip(actual, (e, a) => Math.Abs(e - a)).Max();
                Assert.True(worst <= 1e-4 * scale, $"layer {layer} tensor {t}: gradients differ by {worst} (largest {scale})");
            }
        }
    }

    [Fact]
    public void Adamw_epochs_follow_the_same_losses_with_either_path()
    {
        var (images, labels) = TinyImages.Generate(120, Size, seed: 8);
        var x = TinyImages.Floats(images);
        var rows = Enumerable.Range(0, 120).ToArray();
        double[] Losses(bool gather)
        {
            var options = new GgmlTrainingOptions { BatchSize = 10, LearningRate = 0.003, Seed = 2, Threads = 1, GatherColumns = gather };
            using var network = GgmlNetwork.Create(NetworkShapes.DefaultCnn, new([1, Size, Size]), 3, options);
            return Enumerable.Range(0, 3).Select(_ => network.TrainEpoch(x, labels, rows, CancellationToken.None).TrainLoss).ToArray();
        }

        var im2col = Losses(gather: false);
        var gathered = Losses(gather: true);
        Assert.True(im2col[^1] < im2col[0], $"loss {im2col[0]} → {im2col[^1]}");
        for (var e = 0; e < im2col.Length; e++)
        {
            Assert.True(Math.Abs(gathered[e] - im2col[e]) <= 1e-4 * Math.Abs(im2col[e]), $"epoch {e + 1}: {gathered[e]} gathered, {im2col[e]} with im2col");
        }
    }
}
