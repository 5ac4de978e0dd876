using Maas.Runtimes.Onnx.Native;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Maas.Runtimes.Onnx;

/// <summary>ONNX Runtime's log severities.</summary>
public enum OnnxLogLevel
{
    /// <summary>Everything, including per-node details.</summary>
    Verbose = 0,

    /// <summary>Informational messages.</summary>
    Info = 1,

    /// <summary>Warnings (the default).</summary>
    Warning = 2,

    /// <summary>Errors only.</summary>
    Error = 3,

    /// <summary>Fatal errors only.</summary>
    Fatal = 4,
}

/// <summary>The process's one ONNX Runtime environment; its log messages go to .NET logging.</summary>
/// <remarks>
/// ONNX Runtime allows a single environment per process, and it must outlive every session, so it is created once
/// and never released (the process's exit frees it). The log level is fixed when it is created; the logger can be
/// swapped later (e.g. when the host's logging is ready).
/// </remarks>
public sealed class OnnxEnvironment
{
    private static readonly Lock Gate = new();
    private static OnnxEnvironment? _instance;
    private static readonly Action<ILogger, string, string, string, Exception?>[] Writers = CreateWriters();

    private OnnxEnvironment(OnnxLogLevel logLevel)
    {
        LogLevel = logLevel;
        Handle = OrtNative.CreateEnv((int)logLevel, "maas");
    }

    /// <summary>The environment, created on first use with warnings logged nowhere until <see cref="Configure"/> is called.</summary>
    public static OnnxEnvironment Instance
    {
        get
        {
            if (_instance is { } existing)
            {
                return existing;
            }

            lock (Gate)
            {
                return _instance ??= new OnnxEnvironment(OnnxLogLevel.Warning);
            }
        }
    }

    /// <summary>The severity from which ONNX Runtime emits messages.</summary>
    public OnnxLogLevel LogLevel { get; }

    internal OrtEnvHandle Handle { get; }

    /// <summary>
    /// Routes ONNX Runtime's messages to <paramref name="loggerFactory"/> (category "Maas.Runtimes.Onnx.OnnxRuntime") and
    /// creates the environment with <paramref name="logLevel"/> when it does not exist yet.
    /// </summary>
    public static OnnxEnvironment Configure(ILoggerFactory? loggerFactory, OnnxLogLevel logLevel = OnnxLogLevel.Warning)
    {
        var logger = (loggerFactory ?? NullLoggerFactory.Instance).CreateLogger("Maas.Runtimes.Onnx.OnnxRuntime");
        OrtLogging.Sink = (severity, category, logId, codeLocation, message) => Write(logger, severity, category, logId, message);
        lock (Gate)
        {
            return _instance ??= new OnnxEnvironment(logLevel);
        }
    }

    private static void Write(ILogger logger, int severity, string category, string logId, string message)
    {
        var index = Math.Clamp(severity, 0, 4);
        Writers[index](logger, category, logId, message, null);
    }

    private static Action<ILogger, string, string, string, Exception?>[] CreateWriters()
    {
        // ONNX Runtime's severities map one to one onto .NET's levels.
        var levels = new[] { Microsoft.Extensions.Logging.LogLevel.Trace, Microsoft.Extensions.Logging.LogLevel.Information, Microsoft.Extensions.Logging.LogLevel.Warning, Microsoft.Extensions.Logging.LogLevel.Error, Microsoft.Extensions.Logging.LogLevel.Critical };
        return levels
            .Select((level, i) => LoggerMessage.Define<string, string, string>(level, new EventId(1000 + i, "OnnxRuntime"), "[{OrtCategory}] {OrtLogId}: {OrtMessage}"))
            .ToArray();
    }
}
