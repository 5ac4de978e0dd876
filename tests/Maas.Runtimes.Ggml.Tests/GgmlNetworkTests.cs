using Maas.Core.Training;
using Maas.Testing;

namespace Maas.Runtimes.Ggml.Tests;

/// <summary>Training real networks with ggml-opt on generated pictures of three separable classes.</summary>
public sealed class GgmlNetworkTests
{
    private const int Size = 12;

    [Fact]
    public void Default_cnn_learns_separable_pictures_and_is_deterministic_for_a_seed()
    {
        var (images, labels) = TinyImages.Generate(240, Size, seed: 1);
        var x = TinyImages.Floats(images);
        var train = Enumerable.Range(0, 180).ToArray();
        var held = Enumerable.Range(180, 60).ToArray();
        var options = new GgmlTrainingOptions { BatchSize = 20, LearningRate = 0.003, Seed = 7, Threads = 1 };

        List<GgmlEpoch> Run(out float[] logits)
        {
            using var network = GgmlNetwork.Create(NetworkShapes.DefaultCnn, new([1, Size, Size]), 3, options);
            var epochs = Enumerable.Range(0, 4).Select(_ => network.TrainEpoch(x, labels, train, CancellationToken.None)).ToList();
            logits = network.Logits(x, held);
            return epochs;
        }

        var first = Run(out var logits);
        Assert.True(first[^1].TrainLoss < first[0].TrainLoss, $"loss {first[0].TrainLoss} → {first[^1].TrainLoss}");
        Assert.True(Accuracy(logits, labels, held) >= 0.95, $"held-out accuracy {Accuracy(logits, labels, held)}");

        var second = Run(out var again);
        Assert.Equal(first.Select(e => e.TrainLoss), second.Select(e => e.TrainLoss));
        Assert.Equal(logits, again);
    }

    [Fact]
    public void Two_threads_and_a_nice_compute_thread_train_the_same_weights_as_one()
    {
        // The trainer switches between one thread and all allowed as it times them, and may compute on a thread of its
        // own at a lower priority; neither may change anything but the speed.
        var (images, labels) = TinyImages.Generate(120, Size, seed: 4);
        var x = TinyImages.Floats(images);
        var rows = Enumerable.Range(0, 120).ToArray();
        // (Two threads on halves of the batch are DataParallelTrainingTests'; here ggml's own threading of one graph.)
        GgmlWeights Train(int threads, int nice = 0)
        {
            using var network = GgmlNetwork.Create(NetworkShapes.DefaultCnn, new([1, Size, Size]), 3,
                new() { BatchSize = 10, Seed = 5, Threads = threads, Nice = nice, DataParallel = false });
            network.TrainEpoch(x, labels, rows, CancellationToken.None);
            return network.Weights();
        }

        var one = Train(1);
        foreach (var other in new[] { Train(2), Train(1, nice: 5) })
        {
            Assert.Equal(one.Layers.Keys, other.Layers.Keys);
            foreach (var (layer, values) in one.Layers)
            {
                Assert.Equal(values, other.Layers[layer]);
            }
        }
    }

    [Fact]
    public void Training_computes_on_a_thread_at_the_nice_value_asked_for()
    {
        if (!OperatingSystem.IsLinux())
        {
            return; // nice values are per thread on Linux only; elsewhere training runs at normal priority
        }

        var (images, labels) = TinyImages.Generate(40, Size, seed: 4);
        var x = TinyImages.Floats(images);
        var rows = Enumerable.Range(0, 40).ToArray();
        var callerNice = ThisThreadNice();
        foreach (var nice in new[] { 0, 7 })
        {
            using var network = GgmlNetwork.Create(NetworkShapes.DefaultCnn, new([1, Size, Size]), 3, new() { BatchSize = 10, Threads = 1, Nice = nice });
            var seen = new List<(int Nice, string Name)>();
            network.TrainEpoch(x, labels, rows, CancellationToken.None, (_, _) => seen.Add((ThisThreadNice(), ThisThreadName())));
            Assert.Equal(4, seen.Count);
            Assert.All(seen, s => Assert.Equal(nice == 0 ? callerNice : nice, s.Nice));
            Assert.All(seen, s => Assert.Equal(nice == 0 ? ThisThreadName() : "ggml training", s.Name));
        }
    }

    [Fact]
    public void The_gate_is_asked_after_every_batch_with_its_compute_time_and_a_cancel_in_it_stops_the_epoch()
    {
        var (images, labels) = TinyImages.Generate(40, Size, seed: 4);
        var x = TinyImages.Floats(images);
        var rows = Enumerable.Range(0, 40).ToArray();
        foreach (var nice in new[] { 0, 7 })
        {
            using var network = GgmlNetwork.Create(NetworkShapes.DefaultCnn, new([1, Size, Size]), 3, new() { BatchSize = 10, Threads = 1, Nice = nice });
            var gate = new CountingGate();
            var done = new List<int>();
            network.TrainEpoch(x, labels, rows, CancellationToken.None, (b, _) => done.Add(b), gate);
            Assert.Equal([1, 2, 3, 4], done);
            Assert.Equal(4, gate.Computed.Count);
            Assert.All(gate.Computed, t => Assert.True(t > TimeSpan.Zero));

            // A gate that is cancelled while it waits (a job cancelled while training yields) ends the epoch there.
            using var cancel = new CancellationTokenSource();
            var stopping = new CountingGate { OnBatch = () => cancel.Cancel() };
            Assert.ThrowsAny<OperationCanceledException>(() => network.TrainEpoch(x, labels, rows, cancel.Token, gate: stopping));
            Assert.Single(stopping.Computed);
        }
    }

    [Fact]
    public void The_thread_count_is_the_one_timed_faster_and_is_timed_again_later()
    {
        var chooser = new ThreadChooser(4);
        List<int> Steps(int count, Func<int, double> seconds)
        {
            var used = new List<int>();
            for (var i = 0; i < count; i++)
            {
                var threads = chooser.Next();
                used.Add(threads);
                chooser.Record(threads, seconds(threads));
            }

            return used;
        }

        // A probe alternates one thread and all four, then the faster one runs until the next probe.
        Assert.Equal([1, 4, 1, 4, 1, 4], Steps(6, t => t == 1 ? 0.01 : 0.05));
        Assert.Equal(1, chooser.Chosen);
        Assert.All(Steps(200, _ => 0.01), t => Assert.Equal(1, t));
        Assert.Equal([1, 4, 1, 4, 1, 4], Steps(6, t => t == 1 ? 0.05 : 0.01));
        Assert.Equal(4, chooser.Chosen);
        Assert.Equal(4, chooser.Next());

        // One allowed thread is never probed.
        var single = new ThreadChooser(1);
        Assert.Equal(1, single.Next());
    }

    [Fact]
    public void Every_layer_type_trains_with_both_optimisers()
    {
        var (images, labels) = TinyImages.Generate(120, Size, seed: 2);
        var x = TinyImages.Floats(images);
        var rows = Enumerable.Range(0, 120).ToArray();
        NetworkLayer[] layers =
        [
            new() { Type = "conv2d", Filters = 4, Kernel = 3, Padding = 1 },
            new() { Type = "batch_norm" },
            new() { Type = "layer_norm" },
            new() { Type = "gelu" },
            new() { Type = "avg_pool", Kernel = 2 },
            new() { Type = "conv2d", Filters = 4, Kernel = 3, Stride = 2 },
            new() { Type = "tanh" },
            new() { Type = "max_pool", Kernel = 2, Stride = 1 },
            new() { Type = "flatten" },
            new() { Type = "dropout", Rate = 0.2 },
            new() { Type = "dense", Units = 16 },
            new() { Type = "sigmoid" },
            new() { Type = "layer_norm" },
            new() { Type = "batch_norm" },
            new() { Type = "dense" },
            new() { Type = "softmax" },
        ];
        foreach (var optimizer in new[] { "adamw", "sgd" })
        {
            using var network = GgmlNetwork.Create(layers, new([1, Size, Size]), 3,
                new() { Optimizer = optimizer, LearningRate = optimizer == "sgd" ? 0.1 : 0.01, BatchSize = 10, Threads = 1 });
            var epochs = Enumerable.Range(0, 6).Select(_ => network.TrainEpoch(x, labels, rows, CancellationToken.None)).ToList();
            Assert.True(epochs[^1].TrainLoss < epochs[0].TrainLoss * 0.9, $"{optimizer}: loss {epochs[0].TrainLoss} → {epochs[^1].TrainLoss}");
        }
    }

    [Fact]
    public void Shapes_are_checked_before_anything_is_built_and_the_error_names_the_layer()
    {
        NetworkLayer[] noFlatten = [new() { Type = "conv2d", Filters = 2, Kernel = 3 }, new() { Type = "dense" }];
        var e = Assert.Throws<NetworkException>(() => GgmlNetwork.Create(noFlatten, new([1, Size, Size]), 3, new()));
        Assert.Contains("layer 1 (dense)", e.Message);
        Assert.Contains("flatten", e.Message);

        NetworkLayer[] tooBig = [new() { Type = "conv2d", Filters = 2, Kernel = 13 }, new() { Type = "flatten" }, new() { Type = "dense" }];
        Assert.Contains("layer 0 (conv2d)", Assert.Throws<NetworkException>(() => GgmlNetwork.Create(tooBig, new([1, Size, Size]), 3, new())).Message);

        NetworkLayer[] unknown = [new() { Type = "flatten" }, new() { Type = "group_norm" }, new() { Type = "dense" }];
        var unknownError = Assert.Throws<NetworkException>(() => GgmlNetwork.Create(unknown, new([1, Size, Size]), 3, new())).Message;
        Assert.Contains("layer 1 (group_norm)", unknownError);
        Assert.Contains("batch_norm", unknownError);
    }

    [Fact]
    public void Batch_norm_trains_on_batch_statistics_and_keeps_running_ones_for_serving()
    {
        var (images, labels) = TinyImages.Generate(200, Size, seed: 4);
        var x = TinyImages.Floats(images);
        var train = Enumerable.Range(0, 160).ToArray();
        var held = Enumerable.Range(160, 40).ToArray();
        NetworkLayer[] layers =
        [
            new() { Type = "conv2d", Filters = 6, Kernel = 3, Padding = 1 },
            new() { Type = "batch_norm" },
            new() { Type = "relu" },
            new() { Type = "max_pool", Kernel = 2 },
            new() { Type = "flatten" },
            new() { Type = "dense", Units = 16 },
            new() { Type = "batch_norm" },
            new() { Type = "relu" },
            new() { Type = "dense" },
        ];
        using var network = GgmlNetwork.Create(layers, new([1, Size, Size]), 3, new() { BatchSize = 16, LearningRate = 0.01, Seed = 3, Threads = 1 });
        var epochs = Enumerable.Range(0, 5).Select(_ => network.TrainEpoch(x, labels, train, CancellationToken.None)).ToList();
        Assert.True(epochs[^1].TrainLoss < epochs[0].TrainLoss, $"loss {epochs[0].TrainLoss} → {epochs[^1].TrainLoss}");
        Assert.True(Accuracy(network.Logits(x, held), labels, held) >= 0.9, "held-out accuracy with running statistics");

        // The running statistics moved away from their start (mean 0, variance 1), one per channel / feature.
        var weights = network.Weights();
        Assert.Equal(4, weights.Layers[1].Count);
        Assert.Equal(6, weights.Layers[1][2].Length);
        Assert.Equal(16, weights.Layers[6][3].Length);
        Assert.Contains(weights.Layers[1][2], m => Math.Abs(m) > 1e-3);
        Assert.Contains(weights.Layers[6][3], v => Math.Abs(v - 1) > 1e-3);
        Assert.All(weights.Layers[6][3], v => Assert.True(v > 0));

        // Restoring weights restores the running statistics too: the same scores come back.
        var before = network.Logits(x, held);
        network.TrainEpoch(x, labels, train, CancellationToken.None);
        Assert.NotEqual(before, network.Logits(x, held));
        network.Restore(weights);
        Assert.Equal(before, network.Logits(x, held));
    }

    [Fact]
    public void A_run_resumed_with_its_adamw_moments_follows_the_uninterrupted_loss_trajectory()
    {
        var (images, labels) = TinyImages.Generate(160, Size, seed: 5);
        var x = TinyImages.Floats(images);
        var rows = Enumerable.Range(0, 160).ToArray();
        NetworkLayer[] layers =
        [
            new() { Type = "conv2d", Filters = 4, Kernel = 3, Padding = 1 },
            new() { Type = "batch_norm" },
            new() { Type = "relu" },
            new() { Type = "max_pool", Kernel = 2 },
            new() { Type = "flatten" },
            new() { Type = "dropout", Rate = 0.2 },
            new() { Type = "dense" },
        ];
        var options = new GgmlTrainingOptions { BatchSize = 16, LearningRate = 0.003, WeightDecay = 0.01, Seed = 11, Threads = 1 };
        GgmlNetwork Create() => GgmlNetwork.Create(layers, new([1, Size, Size]), 3, options);

        // Two epochs, then everything a checkpoint keeps; a new network (a new ggml-opt context) goes on from it.
        var (uninterrupted, weights, state) = CheckpointRuns.Run(Create, x, labels, rows, epochs: 5);

        Assert.Equal(2, state.Epochs);
        Assert.Equal(20, state.Steps);
        Assert.Equal(2 * 6, state.Moments.Count); // m and v of conv weight, bias, norm scale, shift, dense weight, bias
        Assert.Contains(state.Moments[1], v => v > 0);

        double[] Resume(bool withMoments)
        {
            using var resumed = Create();
            resumed.Restore(weights);
            if (withMoments)
            {
                resumed.RestoreOptimizer(state);
            }
            else
            {
                resumed.RestoreOptimizer(state with { Moments = state.Moments.Select(m => new float[m.Length]).ToArray(), Steps = 0 });
            }

            return Enumerable.Range(0, 3).Select(_ => resumed.TrainEpoch(x, labels, rows, CancellationToken.None).TrainLoss).ToArray();
        }

        var continued = Resume(withMoments: true);
        for (var e = 0; e < 3; e++)
        {
            Assert.True(Math.Abs(continued[e] - uninterrupted[e + 2]) <= 1e-4 * Math.Abs(uninterrupted[e + 2]),
                $"epoch {e + 3}: resumed {continued[e]}, uninterrupted {uninterrupted[e + 2]}");
        }

        // Restarted moments (the old behaviour) leave that trajectory: the comparison above can tell them apart.
        var restarted = Resume(withMoments: false);
        Assert.True(Math.Abs(restarted[0] - uninterrupted[2]) > 1e-3 * Math.Abs(uninterrupted[2]), $"restarted moments gave {restarted[0]}, the same as {uninterrupted[2]}");
    }

    // Field 19 of /proc/thread-self/stat (after the thread's name in parentheses, which may hold spaces).
    private static int ThisThreadNice()
    {
        var stat = File.ReadAllText("/proc/thread-self/stat");
        return int.Parse(stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[19 - 3], System.Globalization.CultureInfo.InvariantCulture);
    }

    private static string ThisThreadName() => File.ReadAllText("/proc/thread-self/comm").TrimEnd('\n');

    internal static double Accuracy(float[] logits, int[] labels, int[] rows)
    {
        var classes = logits.Length / rows.Length;
        var right = 0;
        for (var i = 0; i < rows.Length; i++)
        {
            var scores = logits.AsSpan(i * classes, classes);
            var best = 0;
            for (var c = 1; c < classes; c++)
            {
                best = scores[c] > scores[best] ? c : best;
            }

            right += best == labels[rows[i]] ? 1 : 0;
        }

        return (double)right / rows.Length;
    }
}

/// <summary>A training gate that records what it is asked and never waits (unless told to do something).</summary>
internal sealed class CountingGate : Maas.Core.Hosting.ITrainingGate
{
    public List<TimeSpan> Computed { get; } = [];

    public Action? OnBatch { get; init; }

    public void AfterBatch(TimeSpan computed, CancellationToken cancellationToken)
    {
        Computed.Add(computed);
        OnBatch?.Invoke();
        cancellationToken.ThrowIfCancellationRequested();
    }
}
