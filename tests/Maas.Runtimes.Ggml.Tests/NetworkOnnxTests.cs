using Maas.Core.Training;
using Maas.Testing;
using Maas.Training;

namespace Maas.Runtimes.Ggml.Tests;

/// <summary>A trained network exported to ONNX answers on ONNX Runtime what it answers on ggml.</summary>
public sealed class NetworkOnnxTests
{
    [Fact]
    public void Onnx_runtime_scores_equal_ggml_scores_for_every_layer_type()
    {
        const int size = 12;
        var (images, labels) = TinyImages.Generate(90, size, seed: 3);
        var x = TinyImages.Floats(images);
        NetworkLayer[] layers =
        [
            new() { Type = "conv2d", Filters = 4, Kernel = 3, Padding = 1 },
            new() { Type = "batch_norm" },
            new() { Type = "layer_norm" },
            new() { Type = "relu" },
            new() { Type = "max_pool", Kernel = 2 },
            new() { Type = "conv2d", Filters = 4, Kernel = 2, Stride = 2, Padding = 1 },
            new() { Type = "gelu" },
            new() { Type = "avg_pool", Kernel = 2, Stride = 1 },
            new() { Type = "flatten" },
            new() { Type = "dropout", Rate = 0.1 },
            new() { Type = "dense", Units = 12 },
            new() { Type = "tanh" },
            new() { Type = "batch_norm" },
            new() { Type = "layer_norm" },
            new() { Type = "dense", Units = 8 },
            new() { Type = "sigmoid" },
            new() { Type = "dense" },
            new() { Type = "softmax" },
        ];
        using var network = GgmlNetwork.Create(layers, new([1, size, size]), 3, new() { BatchSize = 16, Seed = 5 });
        network.TrainEpoch(x, labels, Enumerable.Range(0, 64).ToArray(), CancellationToken.None);
        var rows = Enumerable.Range(64, 26).ToArray();
        var ggml = network.Logits(x, rows);

        var path = Path.Combine(Path.GetTempPath(), $"maas-ggml-{Guid.NewGuid():n}.onnx");
        try
        {
            NetworkOnnx.Export(network, network.Weights()).Save(path);
            var onnx = ImageOnnx.Logits(path, x, rows, [1, size, size]);
            Assert.Equal(rows.Length * 3, onnx.Length);
            var (maxDiff, mismatches) = ImageOnnx.Compare(ggml, onnx);
            Assert.True(mismatches == 0, $"{mismatches} scores differ by more than 1e-4 (largest {maxDiff})");
            Assert.Contains(ggml, v => Math.Abs(v) > 1e-3); // real scores, not all zero
        }
        finally
        {
            File.Delete(path);
        }
    }
}
