using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.ML.OnnxRuntime;

namespace Maas.Runtimes.Onnx;

/// <summary>The process's one ONNX Runtime environment (<see cref="OrtEnv"/>); its log messages go to .NET logging.</summary>
/// <remarks>
/// ONNX Runtime allows a single environment per process, and it must outlive every session, so it is created once
/// with a logging function of ours and never released. The log level is fixed when it is created; the logger the
/// function forwards to can be swapped later (e.g. when the host's logging is ready).
/// </remarks>
public sealed class OnnxEnvironment
{
    private static readonly Lock Gate = new();
    private static readonly Action<ILogger, string, string, string, Exception?>[] Writers = CreateWriters();
    private static readonly DOrtLoggingFunction LogFunction = Log; // held for the process's life: ONNX Runtime keeps calling it
    private static readonly Action<ILogger, string, string, string, Exception?> RepeatWriter =
        LoggerMessage.Define<string, string, string>(Microsoft.Extensions.Logging.LogLevel.Debug, new EventId(1005, "OnnxRuntimeRepeat"),
        "[{OrtCategory}] {OrtLogId}: {OrtMessage}");

    // The initializers each session log id has warned about in its current load (see IsRepeatedGraphInputWarning).
    private static readonly ConcurrentDictionary<string, HashSet<string>> GraphInputInitializers = new(StringComparer.Ordinal);
    private const string GraphInputPrefix = "Initializer ";
    private const string GraphInputWarning = " appears in graph inputs and will not be treated as constant value/weight.";
    private const int MaxTrackedLogIds = 1024;

    private static OnnxEnvironment? _instance;
    private static volatile ILogger? _logger;

    private OnnxEnvironment(OnnxLogLevel logLevel)
    {
        if (OrtEnv.IsCreated)
        {
            // Someone reached the managed API first (its default environment logs to stderr); keep it, ours can't replace it.
            Env = OrtEnv.Instance();
            LogLevel = (OnnxLogLevel)Env.EnvLogLevel;
            return;
        }

        var options = new EnvironmentCreationOptions
        {
            logId = "maas",
            logLevel = (OrtLoggingLevel)logLevel,
            loggingFunction = LogFunction,
        };
        Env = OnnxErrors.Call(() => OrtEnv.CreateInstanceWithOptions(ref options));
        LogLevel = logLevel;
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

    /// <summary>The managed API's environment.</summary>
    internal OrtEnv Env { get; }

    /// <summary>
    /// Routes ONNX Runtime's messages to <paramref name="loggerFactory"/> (category "Maas.Runtimes.Onnx.OnnxRuntime") and
    /// creates the environment with <paramref name="logLevel"/> when it does not exist yet.
    /// </summary>
    public static OnnxEnvironment Configure(ILoggerFactory? loggerFactory, OnnxLogLevel logLevel = OnnxLogLevel.Warning)
    {
        _logger = (loggerFactory ?? NullLoggerFactory.Instance).CreateLogger("Maas.Runtimes.Onnx.OnnxRuntime");
        lock (Gate)
        {
            return _instance ??= new OnnxEnvironment(logLevel);
        }
    }

    private static void Log(IntPtr param, OrtLoggingLevel severity, string category, string logId, string codeLocation, string message)
    {
        if (_logger is not { } logger)
        {
            return;
        }

        try
        {
            if (severity == OrtLoggingLevel.ORT_LOGGING_LEVEL_WARNING && GraphInputInitializer(message) is { } initializer)
            {
                if (IsRepeatedGraphInputWarning(logId, initializer))
                {
                    RepeatWriter(logger, category, logId, message, null);
                    return;
                }

                message += " (further initializers of this model that are graph inputs are logged at Debug level)";
            }

            Writers[Math.Clamp((int)severity, 0, 4)](logger, category, logId, message, null);
        }
#pragma warning disable CA1031 // An exception must never unwind into native frames: that would crash the process.
        catch (Exception)
#pragma warning restore CA1031
        {
        }
    }

    // The initializer a graph-input warning names, or null for any other message.
    private static string? GraphInputInitializer(string message)
    {
        var end = message.IndexOf(GraphInputWarning, StringComparison.Ordinal);
        return message.StartsWith(GraphInputPrefix, StringComparison.Ordinal) && end > GraphInputPrefix.Length
            ? message[GraphInputPrefix.Length..end]
            : null;
    }

    // ONNX Runtime warns once per initializer that an old exporter also listed as a graph input: over a hundred lines
    // each time UltraFace loads, which buried everything else in the log. A load's first such warning stays a warning;
    // the rest of that load's are repeats. A name the log id already warned about starts a new load of it.
    private static bool IsRepeatedGraphInputWarning(string logId, string initializer)
    {
        if (GraphInputInitializers.Count > MaxTrackedLogIds)
        {
            GraphInputInitializers.Clear(); // bounded: a server that loads many versions forgets old sessions' names
        }

        var seen = GraphInputInitializers.GetOrAdd(logId, _ => new HashSet<string>(StringComparer.Ordinal));
        lock (seen)
        {
            if (seen.Count == 0 || seen.Contains(initializer))
            {
                seen.Clear();
                seen.Add(initializer);
                return false;
            }

            seen.Add(initializer);
            return true;
        }
    }

    private static Action<ILogger, string, string, string, Exception?>[] CreateWriters()
    {
        // ONNX Runtime's severities map one to one onto .NET's levels.
        var levels = new[] { Microsoft.Extensions.Logging.LogLevel.Trace, Microsoft.Extensions.Logging.LogLevel.Information, Microsoft.Extensions.Logging.LogLevel.Warning,
            Microsoft.Extensions.Logging.LogLevel.Error, Microsoft.Extensions.Logging.LogLevel.Critical };
        return levels
            .Select((level, i) => LoggerMessage.Define<string, string, string>(level, new EventId(1000 + i, "OnnxRuntime"), "[{OrtCategory}] {OrtLogId}: {OrtMessage}"))
            .ToArray();
    }
}
