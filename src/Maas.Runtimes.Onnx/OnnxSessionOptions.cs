using Microsoft.ML.OnnxRuntime;

namespace Maas.Runtimes.Onnx;

/// <summary>Settings a session is created with: threads, optimisation, memory, execution providers.</summary>
/// <remarks>Each setter is applied to the native options at once, so a bad value fails where it is set.</remarks>
public sealed class OnnxSessionOptions : IDisposable
{
    private OnnxGraphOptimizationLevel _optimization = OnnxGraphOptimizationLevel.All;
    private OnnxExecutionMode _executionMode = OnnxExecutionMode.Sequential;
    private OnnxLogLevel _logSeverity = OnnxLogLevel.Warning;
    private readonly List<string> _providers = [];

    /// <summary>Default options: ONNX Runtime's defaults, CPU execution provider.</summary>
    public OnnxSessionOptions()
    {
        _ = OnnxEnvironment.Instance;
        Options = new SessionOptions();
    }

    /// <summary>Threads used inside one operator (0 = ONNX Runtime's choice, one per physical core).</summary>
    public int IntraOpThreads
    {
        get => Options.IntraOpNumThreads;
        set => Set(() => Options.IntraOpNumThreads = value);
    }

    /// <summary>Threads running independent nodes in parallel mode (0 = ONNX Runtime's choice).</summary>
    public int InterOpThreads
    {
        get => Options.InterOpNumThreads;
        set => Set(() => Options.InterOpNumThreads = value);
    }

    /// <summary>The graph optimisation level.</summary>
    public OnnxGraphOptimizationLevel GraphOptimizationLevel
    {
        get => _optimization;
        set => Set(() => Options.GraphOptimizationLevel = (GraphOptimizationLevel)value, () => _optimization = value);
    }

    /// <summary>Sequential or parallel execution of nodes.</summary>
    public OnnxExecutionMode ExecutionMode
    {
        get => _executionMode;
        set => Set(() => Options.ExecutionMode = (ExecutionMode)value, () => _executionMode = value);
    }

    /// <summary>Plans memory once per input shape and reuses the plan (on by default; off helps very dynamic shapes).</summary>
    public bool EnableMemoryPattern
    {
        get => Options.EnableMemoryPattern;
        set => Set(() => Options.EnableMemoryPattern = value);
    }

    /// <summary>Keeps freed CPU buffers in an arena for reuse (on by default; off returns memory to the system sooner).</summary>
    public bool EnableCpuMemoryArena
    {
        get => Options.EnableCpuMemArena;
        set => Set(() => Options.EnableCpuMemArena = value);
    }

    /// <summary>The severity from which this session's messages are logged.</summary>
    public OnnxLogLevel LogSeverity
    {
        get => _logSeverity;
        set => Set(() => Options.LogSeverityLevel = (OrtLoggingLevel)value, () => _logSeverity = value);
    }

    /// <summary>The id that tags this session's log messages.</summary>
    public string LogId
    {
        get => Options.LogId;
        set => Set(() => Options.LogId = value);
    }

    /// <summary>Where ONNX Runtime saves the graph after its optimisations when a session is created (null: not saved).</summary>
    public string? OptimizedModelFilePath
    {
        get => string.IsNullOrEmpty(Options.OptimizedModelFilePath) ? null : Options.OptimizedModelFilePath;
        set => Set(() => Options.OptimizedModelFilePath = value ?? "");
    }

    /// <summary>The execution providers appended so far, in preference order (CPU is always the implicit last).</summary>
    public IReadOnlyList<string> ExecutionProviders => _providers;

    /// <summary>The managed API's session options.</summary>
    internal SessionOptions Options { get; }

    /// <summary>Sets a session configuration entry (keys from onnxruntime_session_options_config_keys.h).</summary>
    public void AddConfigEntry(string key, string value) => Set(() => Options.AddSessionConfigEntry(key, value));

    /// <summary>Fixes a named symbolic dimension (e.g. "batch") to a value, so ONNX Runtime can plan for it.</summary>
    public void AddFreeDimensionOverride(string dimensionName, long value) => Set(() => Options.AddFreeDimensionOverrideByName(dimensionName, value));

    /// <summary>
    /// Appends an execution provider by name with its string options: "CUDA" and "TensorRT" through their provider
    /// options (e.g. device_id), any other name (XNNPACK, OpenVINO, QNN, CoreML, DML, WebGPU...) through the generic
    /// call. A build without that provider throws an <see cref="OnnxRuntimeException"/> with the reason.
    /// </summary>
    public void AppendExecutionProvider(string name, IReadOnlyDictionary<string, string>? providerOptions = null)
    {
        ThrowIfDisposed();
        var settings = providerOptions?.ToDictionary() ?? [];
        if (IsNamed(name, "CUDA", "CUDAExecutionProvider"))
        {
            RequireInBuild(name, "CUDAExecutionProvider");
            using var cuda = new OrtCUDAProviderOptions();
            OnnxErrors.Call(() => cuda.UpdateOptions(settings));
            OnnxErrors.Call(() => Options.AppendExecutionProvider_CUDA(cuda));
        }
        else if (IsNamed(name, "TensorRT", "TensorrtExecutionProvider"))
        {
            RequireInBuild(name, "TensorrtExecutionProvider");
            using var tensorRt = new OrtTensorRTProviderOptions();
            OnnxErrors.Call(() => tensorRt.UpdateOptions(settings));
            OnnxErrors.Call(() => Options.AppendExecutionProvider_Tensorrt(tensorRt));
        }
        else
        {
            OnnxErrors.Call(() => Options.AppendExecutionProvider(name, settings));
        }

        _providers.Add(name);
    }

    /// <summary>Releases the native options; sessions already created keep their own copy.</summary>
    public void Dispose() => Options.Dispose();

    private static bool IsNamed(string name, string shortName, string providerName) =>
        name.Equals(shortName, StringComparison.OrdinalIgnoreCase) || name.Equals(providerName, StringComparison.Ordinal);

    // The CPU package's library lacks the CUDA and TensorRT entry points altogether; say so before calling them.
    private static void RequireInBuild(string name, string providerName)
    {
        var available = OnnxRuntime.AvailableProviders;
        if (!available.Contains(providerName))
        {
            throw new OnnxRuntimeException(
                OnnxRuntimeErrorCode.NotImplemented,
                $"this ONNX Runtime build has no {name} execution provider (its providers: {string.Join(", ", available)}); build MaaS with -p:MaasOnnxGpu=true for the GPU build");
        }
    }

    private void Set(Action apply, Action? remember = null)
    {
        ThrowIfDisposed();
        OnnxErrors.Call(apply);
        remember?.Invoke();
    }

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(Options.IsClosed, this);
}
