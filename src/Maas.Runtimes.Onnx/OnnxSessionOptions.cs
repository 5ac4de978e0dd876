using Maas.Runtimes.Onnx.Native;

namespace Maas.Runtimes.Onnx;

/// <summary>How much ONNX Runtime rewrites the graph when a session loads.</summary>
public enum OnnxGraphOptimizationLevel
{
    /// <summary>No graph optimisation.</summary>
    DisableAll = 0,

    /// <summary>Semantics-preserving rewrites such as constant folding.</summary>
    Basic = 1,

    /// <summary>Also fusions specific to ONNX Runtime's kernels.</summary>
    Extended = 2,

    /// <summary>Everything, including layout changes (the default).</summary>
    All = 99,
}

/// <summary>Whether a session runs the graph's nodes one at a time or independent branches in parallel.</summary>
public enum OnnxExecutionMode
{
    /// <summary>One node at a time, parallel inside nodes (the default).</summary>
    Sequential = 0,

    /// <summary>Independent branches at once, on the inter-op thread pool.</summary>
    Parallel = 1,
}

/// <summary>Settings a session is created with: threads, optimisation, memory, execution providers.</summary>
/// <remarks>Each setter is applied to the native options at once, so a bad value fails where it is set.</remarks>
public sealed class OnnxSessionOptions : IDisposable
{
    private int _intraOpThreads;
    private int _interOpThreads;
    private OnnxGraphOptimizationLevel _optimization = OnnxGraphOptimizationLevel.All;
    private OnnxExecutionMode _executionMode = OnnxExecutionMode.Sequential;
    private bool _memoryPattern = true;
    private bool _cpuMemoryArena = true;
    private OnnxLogLevel _logSeverity = OnnxLogLevel.Warning;
    private string _logId = "";
    private readonly List<string> _providers = [];

    /// <summary>Default options: ONNX Runtime's defaults, CPU execution provider.</summary>
    public OnnxSessionOptions()
    {
        _ = OnnxEnvironment.Instance;
        Handle = OrtNative.CreateSessionOptions();
    }

    /// <summary>Threads used inside one operator (0 = ONNX Runtime's choice, one per physical core).</summary>
    public int IntraOpThreads
    {
        get => _intraOpThreads;
        set => Set(OrtApiSlot.SetIntraOpNumThreads, value, () => _intraOpThreads = value);
    }

    /// <summary>Threads running independent nodes in parallel mode (0 = ONNX Runtime's choice).</summary>
    public int InterOpThreads
    {
        get => _interOpThreads;
        set => Set(OrtApiSlot.SetInterOpNumThreads, value, () => _interOpThreads = value);
    }

    /// <summary>The graph optimisation level.</summary>
    public OnnxGraphOptimizationLevel GraphOptimizationLevel
    {
        get => _optimization;
        set => Set(OrtApiSlot.SetSessionGraphOptimizationLevel, (int)value, () => _optimization = value);
    }

    /// <summary>Sequential or parallel execution of nodes.</summary>
    public OnnxExecutionMode ExecutionMode
    {
        get => _executionMode;
        set => Set(OrtApiSlot.SetSessionExecutionMode, (int)value, () => _executionMode = value);
    }

    /// <summary>Plans memory once per input shape and reuses the plan (on by default; off helps very dynamic shapes).</summary>
    public bool EnableMemoryPattern
    {
        get => _memoryPattern;
        set
        {
            ThrowIfDisposed();
            OrtNative.SetOption(Handle, value ? OrtApiSlot.EnableMemPattern : OrtApiSlot.DisableMemPattern);
            _memoryPattern = value;
        }
    }

    /// <summary>Keeps freed CPU buffers in an arena for reuse (on by default; off returns memory to the system sooner).</summary>
    public bool EnableCpuMemoryArena
    {
        get => _cpuMemoryArena;
        set
        {
            ThrowIfDisposed();
            OrtNative.SetOption(Handle, value ? OrtApiSlot.EnableCpuMemArena : OrtApiSlot.DisableCpuMemArena);
            _cpuMemoryArena = value;
        }
    }

    /// <summary>The severity from which this session's messages are logged.</summary>
    public OnnxLogLevel LogSeverity
    {
        get => _logSeverity;
        set => Set(OrtApiSlot.SetSessionLogSeverityLevel, (int)value, () => _logSeverity = value);
    }

    /// <summary>The id that tags this session's log messages.</summary>
    public string LogId
    {
        get => _logId;
        set
        {
            ThrowIfDisposed();
            OrtNative.SetSessionLogId(Handle, value);
            _logId = value;
        }
    }

    /// <summary>The execution providers appended so far, in preference order (CPU is always the implicit last).</summary>
    public IReadOnlyList<string> ExecutionProviders => _providers;

    internal OrtSessionOptionsHandle Handle { get; }

    /// <summary>Sets a session configuration entry (keys from onnxruntime_session_options_config_keys.h).</summary>
    public void AddConfigEntry(string key, string value)
    {
        ThrowIfDisposed();
        OrtNative.AddSessionConfigEntry(Handle, key, value);
    }

    /// <summary>Fixes a named symbolic dimension (e.g. "batch") to a value, so ONNX Runtime can plan for it.</summary>
    public void AddFreeDimensionOverride(string dimensionName, long value)
    {
        ThrowIfDisposed();
        OrtNative.AddFreeDimensionOverrideByName(Handle, dimensionName, value);
    }

    /// <summary>
    /// Appends an execution provider by name with its string options: "CUDA" goes through the CUDA provider options
    /// (e.g. device_id), any other name (XNNPACK, OpenVINO, QNN, CoreML, DML, WebGPU...) through the generic call.
    /// A build without that provider throws an <see cref="OnnxRuntimeException"/> with ONNX Runtime's reason.
    /// </summary>
    public void AppendExecutionProvider(string name, IReadOnlyDictionary<string, string>? providerOptions = null)
    {
        ThrowIfDisposed();
        var keys = providerOptions?.Keys.ToArray() ?? [];
        var values = keys.Select(k => providerOptions![k]).ToArray();
        if (name.Equals("CUDA", StringComparison.OrdinalIgnoreCase) || name.Equals("CUDAExecutionProvider", StringComparison.Ordinal))
        {
            OrtNative.AppendCudaExecutionProvider(Handle, keys, values);
        }
        else
        {
            OrtNative.AppendExecutionProvider(Handle, name, keys, values);
        }

        _providers.Add(name);
    }

    /// <summary>Releases the native options; sessions already created keep their own copy.</summary>
    public void Dispose() => Handle.Dispose();

    private void Set(OrtApiSlot slot, int value, Action remember)
    {
        ThrowIfDisposed();
        OrtNative.SetOption(Handle, slot, value);
        remember();
    }

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(Handle.IsClosed, this);
}
