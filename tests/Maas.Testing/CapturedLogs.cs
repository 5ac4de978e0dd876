using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace Maas.Testing;

/// <summary>
/// Keeps every log line in memory: as a logger provider (added to a host), a logger factory (handed to a binding)
/// or one logger. What a test reads back is exactly what the code under test logged.
/// </summary>
public sealed class CapturedLogs : ILoggerProvider, ILoggerFactory
{
    /// <summary>Every line so far: its category, level and formatted message (with the exception, if any).</summary>
    public ConcurrentQueue<(string Category, LogLevel Level, string Message)> Lines { get; } = new();

    /// <inheritdoc />
    public ILogger CreateLogger(string categoryName) => new CapturedLogger(this, categoryName);

    /// <summary>One logger under a fixed category.</summary>
    public ILogger Single(string category = "test") => new CapturedLogger(this, category);

    /// <inheritdoc />
    public void AddProvider(ILoggerProvider provider)
    {
    }

    /// <inheritdoc />
    public void Dispose()
    {
    }

    private sealed class CapturedLogger(CapturedLogs owner, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            owner.Lines.Enqueue((category, logLevel, formatter(state, exception) + (exception is null ? "" : " " + exception)));
    }
}
