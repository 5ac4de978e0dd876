using Microsoft.ML.OnnxRuntime;

namespace Maas.Runtimes.Onnx;

/// <summary>Per-run settings, and the way to stop a run that is in progress (<see cref="Terminate"/>).</summary>
public sealed class OnnxRunOptions : IDisposable
{
    private OnnxLogLevel _logSeverity = OnnxLogLevel.Warning;
    private volatile bool _terminated;

    /// <summary>Default run options.</summary>
    public OnnxRunOptions()
    {
        _ = OnnxEnvironment.Instance;
        Options = new RunOptions();
    }

    /// <summary>A tag that ONNX Runtime puts in this run's log messages.</summary>
    public string Tag
    {
        get
        {
            ThrowIfDisposed();
            return Options.LogId;
        }

        set
        {
            ThrowIfDisposed();
            OnnxErrors.Call(() => Options.LogId = value);
        }
    }

    /// <summary>The severity from which this run's messages are logged.</summary>
    public OnnxLogLevel LogSeverity
    {
        get => _logSeverity;
        set
        {
            ThrowIfDisposed();
            OnnxErrors.Call(() => Options.LogSeverityLevel = (OrtLoggingLevel)value);
            _logSeverity = value;
        }
    }

    /// <summary>Whether <see cref="Terminate"/> was called and not yet <see cref="Reset"/>.</summary>
    public bool IsTerminated => _terminated;

    /// <summary>The managed API's run options.</summary>
    internal RunOptions Options { get; }

    /// <summary>Stops runs using these options at the next node boundary; they fail with ONNX Runtime's "terminate" error.</summary>
    /// <remarks>Safe to call from any thread while a run is in progress.</remarks>
    public void Terminate()
    {
        ThrowIfDisposed();
        Options.Terminate = true;
        _terminated = true;
    }

    /// <summary>Clears the terminate flag so these options can be used again.</summary>
    public void Reset()
    {
        ThrowIfDisposed();
        Options.Terminate = false;
        _terminated = false;
    }

    /// <summary>Sets a run configuration entry (keys from onnxruntime_run_options_config_keys.h).</summary>
    public void AddConfigEntry(string key, string value)
    {
        ThrowIfDisposed();
        OnnxErrors.Call(() => Options.AddRunConfigEntry(key, value));
    }

    /// <summary>Releases the native run options.</summary>
    public void Dispose() => Options.Dispose();

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(Options.IsClosed, this);
}
