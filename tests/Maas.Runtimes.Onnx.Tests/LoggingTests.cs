using Maas.Testing;
using Microsoft.Extensions.Logging;

namespace Maas.Runtimes.Onnx.Tests;

public sealed class LoggingTests
{
    [SharedModelFact("ultraface-rfb-320.onnx")]
    public void OnnxRuntimeWarningsArriveInDotnetLogging()
    {
        // UltraFace lists its initializers as graph inputs, which ONNX Runtime warns about when it loads the model.
        var sink = new CapturedLogs();
        OnnxEnvironment.Configure(sink, OnnxLogLevel.Warning);

        using (OnnxSession.Open(SharedModels.PathOf("ultraface-rfb-320.onnx")))
        {
        }

        Assert.Contains(sink.Lines, e => e.Level == LogLevel.Warning && e.Category == "Maas.Runtimes.Onnx.OnnxRuntime");
    }

    [SharedModelFact("ultraface-rfb-320.onnx")]
    public void An_initializer_listed_as_a_graph_input_is_one_warning_per_load_and_the_rest_are_debug()
    {
        // UltraFace lists over a hundred initializers as graph inputs; each load warned once per initializer.
        var sink = new CapturedLogs();
        OnnxEnvironment.Configure(sink, OnnxLogLevel.Warning);
        var logId = "graph-inputs-" + Guid.NewGuid().ToString("n");
        for (var load = 0; load < 2; load++)
        {
            using var options = new OnnxSessionOptions { LogId = logId };
            using (OnnxSession.Open(SharedModels.PathOf("ultraface-rfb-320.onnx"), options))
            {
            }
        }

        var lines = sink.Lines.Where(e => e.Message.Contains(logId, StringComparison.Ordinal) && e.Message.Contains("appears in graph inputs", StringComparison.Ordinal)).ToList();
        var warnings = lines.Where(e => e.Level == LogLevel.Warning).ToList();
        Assert.Equal(2, warnings.Count); // one per load
        Assert.All(warnings, w => Assert.Contains("further initializers of this model that are graph inputs are logged at Debug level", w.Message, StringComparison.Ordinal));
        Assert.True(lines.Count(e => e.Level == LogLevel.Debug) > 100, $"{lines.Count} lines");
    }
}
