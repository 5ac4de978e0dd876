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
}
