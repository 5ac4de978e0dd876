using Microsoft.Extensions.Logging;

namespace Maas.Runtimes.Llama.Tests;

[Collection(LlamaCollection.Name)]
public sealed class LoggingTests(LlamaTestModels models)
{
    [Fact]
    public void Native_log_lines_reach_the_configured_logger_at_or_above_its_level()
    {
        var sink = new CollectingLogger();
        LlamaBackend.ConfigureLogging(sink, LogLevel.Debug);
        try
        {
            using (var model = LlamaModel.Load(models.GeneratedPathEnsured()))
            {
            }

            var broken = Path.Combine(models.Folder, "log-broken.gguf");
            File.WriteAllText(broken, "GGUF but not really");
            Assert.Throws<LlamaException>(() => LlamaModel.Load(broken));
        }
        finally
        {
            LlamaBackend.ConfigureLogging((ILogger?)null, LogLevel.Warning);
        }

        var lines = sink.Lines;
        Assert.Contains(lines, l => l.Level == LogLevel.Debug && l.Message.Contains("llama", StringComparison.OrdinalIgnoreCase));
        Assert.Contains(lines, l => l.Level == LogLevel.Error);
        Assert.DoesNotContain(lines, l => l.Level < LogLevel.Debug);
        Assert.DoesNotContain(lines, l => l.Message.EndsWith('\n'));
    }

    private sealed class CollectingLogger : ILogger
    {
        private readonly Lock gate = new();
        private readonly List<(LogLevel Level, string Message)> lines = [];

        public List<(LogLevel Level, string Message)> Lines
        {
            get
            {
                lock (gate)
                {
                    return [.. lines];
                }
            }
        }

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            lock (gate)
            {
                lines.Add((logLevel, formatter(state, exception)));
            }
        }
    }
}
