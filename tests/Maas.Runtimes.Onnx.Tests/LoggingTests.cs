using System.Collections.Concurrent;
using Maas.Testing;
using Microsoft.Extensions.Logging;

namespace Maas.Runtimes.Onnx.Tests;

public sealed class LoggingTests
{
    [SharedModelFact("ultraface-rfb-320.onnx")]
    public void OnnxRuntimeWarningsArriveInDotnetLogging()
    {
        // UltraFace lists its initializers as graph inputs, which ONNX Runtime warns about when it loads the model.
        var sink = new CollectingLoggerFactory();
        OnnxEnvironment.Configure(sink, OnnxLogLevel.Warning);

        using (OnnxSession.Open(SharedModels.PathOf("ultraface-rfb-320.onnx")))
        {
        }

        Assert.Contains(sink.Entries, e => e.Level == LogLevel.Warning && e.Category == "Maas.Runtimes.Onnx.OnnxRuntime");
    }

    private sealed class CollectingLoggerFactory : ILoggerFactory
    {
        public ConcurrentQueue<(string Category, LogLevel Level, string Message)> Entries { get; } = new();

        public void AddProvider(ILoggerProvider provider)
        {
        }

        public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

        public void Dispose()
        {
        }

        private sealed class Logger(CollectingLoggerFactory owner, string category) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state)
                where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => true;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
                owner.Entries.Enqueue((category, logLevel, formatter(state, exception)));
        }
    }
}
