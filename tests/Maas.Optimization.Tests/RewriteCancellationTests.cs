using Maas.Core.Formats.Onnx;
using Maas.Core.Training;
using Maas.Optimization.FineTuning;
using Maas.Optimization.Onnx;

namespace Maas.Optimization.Tests;

/// <summary>
/// Each ONNX rewrite watches the job's token at every item of its loop (initializer, weight or node): a cancel that
/// arrives while the loop runs stops it at its next item instead of after the whole model.
/// </summary>
public sealed class RewriteCancellationTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("maas-rewrite-cancel-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    // Four dense layers: four MatMul weights, three hidden chains, eight initializers of 16 values or more.
    private string Mlp()
    {
        var path = Path.Combine(_folder, "mlp.onnx");
        if (!File.Exists(path))
        {
            OnnxModelWriter.Mlp(64, [128, 96, 64], 32, seed: 5).Save(path);
        }

        return path;
    }

    private static void Rewrite(string loop, OnnxGraph graph, RewriteSteps steps)
    {
        switch (loop)
        {
            case nameof(OnnxFloat16Rewriter):
                OnnxFloat16Rewriter.Rewrite(graph, steps);
                break;
            case nameof(OnnxInt8Quantizer):
                OnnxInt8Quantizer.Rewrite(graph, null, steps);
                break;
            case nameof(OnnxInt4Quantizer):
                OnnxInt4Quantizer.Rewrite(graph, 32, steps);
                break;
            case nameof(OnnxMagnitudePruner):
                OnnxMagnitudePruner.Rewrite(graph, 0.5, steps);
                break;
            case nameof(OnnxStructuredPruner):
                OnnxStructuredPruner.Rewrite(graph, 0.5, steps);
                break;
            case nameof(OnnxLinearLowering):
                OnnxLinearLowering.Lower(graph, steps);
                break;
            case nameof(OnnxStaticQuantizer):
                var ranges = OnnxStaticQuantizer.Activations(graph).ToDictionary(a => a, _ => new ActivationRange(-1, 1));
                OnnxStaticQuantizer.Rewrite(graph, ranges, null, steps);
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(loop));
        }
    }

    [Theory]
    [InlineData(nameof(OnnxFloat16Rewriter))]
    [InlineData(nameof(OnnxInt8Quantizer))]
    [InlineData(nameof(OnnxInt4Quantizer))]
    [InlineData(nameof(OnnxMagnitudePruner))]
    [InlineData(nameof(OnnxStructuredPruner))]
    [InlineData(nameof(OnnxLinearLowering))]
    [InlineData(nameof(OnnxStaticQuantizer))]
    public void A_cancel_arriving_inside_a_rewrite_loop_stops_it_at_the_next_item(string loop)
    {
        // Uncancelled, the loop takes a step per item: how many items the whole loop has.
        var items = 0;
        Rewrite(loop, OnnxGraph.Load(Mlp()), new RewriteSteps(CancellationToken.None, (l, _) => items += l == loop ? 1 : 0));
        Assert.True(items >= 3, $"{loop} took {items} steps over the model");

        // The cancel arrives while the loop works on its first item (from the loop's own thread: no race).
        using var cancel = new CancellationTokenSource();
        var seen = 0;
        var steps = new RewriteSteps(cancel.Token, (l, token) =>
        {
            Assert.Equal(cancel.Token, token);
            if (l == loop && ++seen == 1)
            {
                cancel.Cancel();
            }
        });

        Assert.Throws<OperationCanceledException>(() => Rewrite(loop, OnnxGraph.Load(Mlp()), steps));
        Assert.Equal(1, seen);
    }

    [Fact]
    public void A_rewrite_whose_job_was_cancelled_before_it_started_does_no_step()
    {
        using var cancel = new CancellationTokenSource();
        cancel.Cancel();
        var seen = 0;
        Assert.Throws<OperationCanceledException>(() => OnnxFloat16Rewriter.Rewrite(OnnxGraph.Load(Mlp()), new RewriteSteps(cancel.Token, (_, _) => seen++)));
        Assert.Equal(0, seen);
    }

    [Fact]
    public void Accuracy_on_test_pictures_stops_once_the_job_is_cancelled()
    {
        // Pictures of 1 x 2 x 2 values flattened into a 4 x 3 classifier; 600 rows are three batches of ONNX Runtime runs.
        var path = Path.Combine(_folder, "pictures.onnx");
        new OnnxModelWriter("pictures").Input("input", OnnxElementType.Float, "batch", 1, 2, 2).Output("logits", OnnxElementType.Float, "batch", 3)
            .Initializer("shape", [-1L, 4], [2]).Initializer("w", Enumerable.Range(0, 12).Select(i => (float)(i % 5) - 2).ToArray(), [4, 3])
            .Node("Reshape", ["input", "shape"], ["flat"]).Node("MatMul", ["flat", "w"], ["logits"]).Save(path);
        var random = new Random(3);
        var rows = Enumerable.Range(0, 600).ToArray();
        var data = new FineTuneData(rows.SelectMany(_ => new[] { (float)random.NextDouble(), (float)random.NextDouble(), (float)random.NextDouble(), (float)random.NextDouble() })
            .ToArray(), rows.Select(r => r % 3).ToArray(), new NetworkShape([1, 2, 2]), [], [], rows, 0);

        var accuracy = PrunedFineTune.Accuracy(path, "input", "logits", data, rows, 3, CancellationToken.None);
        Assert.InRange(accuracy, 0, 1);

        // It ran every batch to its end whatever the job's token said.
        using var cancel = new CancellationTokenSource();
        cancel.Cancel();
        Assert.ThrowsAny<OperationCanceledException>(() => PrunedFineTune.Accuracy(path, "input", "logits", data, rows, 3, cancel.Token));
    }
}
