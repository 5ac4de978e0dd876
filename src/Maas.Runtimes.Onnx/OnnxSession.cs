using Maas.Core.Formats;
using Maas.Core.Formats.Onnx;
using Maas.Runtimes.Onnx.Native;

namespace Maas.Runtimes.Onnx;

/// <summary>A session input or output: name, element type and shape (symbolic dimensions are -1 with their name).</summary>
/// <param name="Name">The name to feed or fetch.</param>
/// <param name="ElementType">The element type; <see cref="OnnxElementType.Undefined"/> for non-tensor values.</param>
/// <param name="Shape">The dimensions as ONNX Runtime reports them.</param>
/// <param name="IsTensor">False for sequences, maps and optionals.</param>
public sealed record OnnxNodeInfo(string Name, OnnxElementType ElementType, IReadOnlyList<OnnxDimension> Shape, bool IsTensor)
{
    /// <summary>The dimensions as numbers, -1 where symbolic.</summary>
    public long[] Dims => Shape.Select(d => d.Value).ToArray();

    /// <summary>The KServe v2 datatype name.</summary>
    public string KServeDatatype => IsTensor ? OnnxElementTypes.DisplayName(ElementType) : "UNSUPPORTED";
}

/// <summary>What a loaded model says about itself: ONNX Runtime's model metadata plus IR version and opsets from the file.</summary>
public sealed record OnnxModelMetadata(
    string ProducerName,
    string ProducerVersion,
    string GraphName,
    string Domain,
    string Description,
    string GraphDescription,
    long Version,
    long IrVersion,
    IReadOnlyList<OnnxOpset> Opsets,
    IReadOnlyDictionary<string, string> CustomMetadata);

/// <summary>A loaded ONNX model ready to run; thread-safe for concurrent runs.</summary>
public sealed class OnnxSession : IDisposable
{
    private readonly OnnxModelHeader _header;
    private OnnxModelMetadata? _metadata;

    private OnnxSession(OrtSessionHandle handle, OnnxModelHeader header)
    {
        Handle = handle;
        _header = header;
        try
        {
            Inputs = OrtNative.DescribeIo(handle, outputs: false).Select(Describe).ToArray();
            Outputs = OrtNative.DescribeIo(handle, outputs: true).Select(Describe).ToArray();
            handle.CacheNames(Inputs.Select(i => i.Name).Concat(Outputs.Select(o => o.Name)));
            OutputNames = Outputs.Select(o => o.Name).ToArray();
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    /// <summary>The inputs a run feeds (initializers are not listed).</summary>
    public IReadOnlyList<OnnxNodeInfo> Inputs { get; }

    /// <summary>The outputs a run can fetch.</summary>
    public IReadOnlyList<OnnxNodeInfo> Outputs { get; }

    /// <summary>The output names, in model order.</summary>
    public IReadOnlyList<string> OutputNames { get; }

    /// <summary>Producer, graph, description, version, custom metadata map, IR version and opsets.</summary>
    public OnnxModelMetadata Metadata => _metadata ??= ReadMetadata();

    internal OrtSessionHandle Handle { get; }

    /// <summary>Loads a model file (external data files next to it are found by ONNX Runtime).</summary>
    public static OnnxSession Open(string path, OnnxSessionOptions? options = null)
    {
        var fullPath = Path.GetFullPath(path);
        if (!File.Exists(fullPath))
        {
            throw new FileNotFoundException($"model file '{fullPath}' does not exist", fullPath);
        }

        var header = ReadHeader(() => OnnxModelHeader.Read(fullPath));
        var owned = options is null ? new OnnxSessionOptions() : null;
        try
        {
            return new OnnxSession(OrtNative.CreateSession(OnnxEnvironment.Instance.Handle, fullPath, (options ?? owned!).Handle), header);
        }
        finally
        {
            owned?.Dispose();
        }
    }

    /// <summary>Loads a model from memory (all weights inline); the bytes may be reused once this returns.</summary>
    public static OnnxSession FromBytes(ReadOnlySpan<byte> model, OnnxSessionOptions? options = null)
    {
        OnnxModelHeader header;
        try
        {
            header = OnnxModelHeader.Read(model);
        }
        catch (InvalidModelFileException)
        {
            header = OnnxModelHeader.Empty; // ONNX Runtime reports what is wrong, in its own words, below.
        }

        var owned = options is null ? new OnnxSessionOptions() : null;
        try
        {
            return new OnnxSession(OrtNative.CreateSession(OnnxEnvironment.Instance.Handle, model, (options ?? owned!).Handle), header);
        }
        finally
        {
            owned?.Dispose();
        }
    }

    /// <summary>
    /// Runs the model. Returns the outputs named in <paramref name="outputNames"/> (all outputs when null) as tensors
    /// the caller owns. Cancelling <paramref name="cancellationToken"/> terminates the run at the next node and throws
    /// <see cref="OperationCanceledException"/>.
    /// </summary>
    public OnnxValues Run(
        IReadOnlyCollection<KeyValuePair<string, OnnxTensor>> inputs,
        IReadOnlyList<string>? outputNames = null,
        OnnxRunOptions? runOptions = null,
        CancellationToken cancellationToken = default)
    {
        var names = outputNames ?? OutputNames;
        var results = new OrtValueHandle?[names.Count];
        RunCore(inputs, names, results, runOptions, cancellationToken);
        var tensors = new OnnxTensor[results.Length];
        try
        {
            for (var i = 0; i < results.Length; i++)
            {
                tensors[i] = new OnnxTensor(results[i]!);
            }
        }
        catch
        {
            foreach (var handle in results)
            {
                handle?.Dispose();
            }

            throw;
        }

        return new OnnxValues(names.ToArray(), tensors);
    }

    /// <summary>
    /// Runs the model writing into caller-made output tensors (e.g. over pooled buffers), so nothing is allocated
    /// for the results; each tensor's type and shape must be what the model produces.
    /// </summary>
    public void Run(
        IReadOnlyCollection<KeyValuePair<string, OnnxTensor>> inputs,
        IReadOnlyCollection<KeyValuePair<string, OnnxTensor>> outputs,
        OnnxRunOptions? runOptions = null,
        CancellationToken cancellationToken = default)
    {
        var names = outputs.Select(o => o.Key).ToArray();
        var values = outputs.Select(o => (OrtValueHandle?)o.Value.Handle).ToArray();
        RunCore(inputs, names, values, runOptions, cancellationToken);
    }

    /// <summary>Runs with the inputs and outputs bound in <paramref name="binding"/>; fetch results with <see cref="OnnxIoBinding.GetOutputs"/>.</summary>
    public void Run(OnnxIoBinding binding, OnnxRunOptions? runOptions = null, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(Handle.IsClosed, this);
        WithCancellation(runOptions, cancellationToken, options => OrtNative.RunWithBinding(Handle, options?.Handle, binding.Handle));
    }

    /// <summary>A binding of inputs and outputs for repeated runs without re-marshalling names and values.</summary>
    public OnnxIoBinding CreateIoBinding()
    {
        ObjectDisposedException.ThrowIf(Handle.IsClosed, this);
        return new OnnxIoBinding(OrtNative.CreateIoBinding(Handle));
    }

    /// <summary>Releases the native session; tensors it returned stay valid.</summary>
    public void Dispose() => Handle.Dispose();

    private void RunCore(
        IReadOnlyCollection<KeyValuePair<string, OnnxTensor>> inputs,
        IReadOnlyList<string> outputNames,
        OrtValueHandle?[] outputs,
        OnnxRunOptions? runOptions,
        CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(Handle.IsClosed, this);
        var inputNames = new string[inputs.Count];
        var inputValues = new OrtValueHandle[inputs.Count];
        var i = 0;
        foreach (var (name, tensor) in inputs)
        {
            inputNames[i] = name;
            inputValues[i] = tensor.Handle;
            i++;
        }

        WithCancellation(runOptions, cancellationToken, options => OrtNative.Run(Handle, options?.Handle, inputNames, inputValues, outputNames, outputs));
    }

    // Cancellation sets ONNX Runtime's terminate flag on the run options the run uses; ONNX Runtime checks it between nodes.
    private static void WithCancellation(OnnxRunOptions? runOptions, CancellationToken cancellationToken, Action<OnnxRunOptions?> run)
    {
        if (!cancellationToken.CanBeCanceled)
        {
            run(runOptions);
            return;
        }

        cancellationToken.ThrowIfCancellationRequested();
        var options = runOptions ?? new OnnxRunOptions();
        var terminatedByUs = false;
        try
        {
            using (cancellationToken.Register(() =>
            {
                try
                {
                    options.Terminate();
                    terminatedByUs = true;
                }
                catch (ObjectDisposedException)
                {
                    // The run already finished and its options are gone.
                }
            }))
            {
                try
                {
                    run(options);
                }
                catch (OnnxRuntimeException e) when (cancellationToken.IsCancellationRequested)
                {
                    throw new OperationCanceledException("the ONNX Runtime run was cancelled: " + e.EngineMessage, e, cancellationToken);
                }
            }
        }
        finally
        {
            if (runOptions is null)
            {
                options.Dispose();
            }
            else if (terminatedByUs)
            {
                runOptions.Reset(); // The caller's options stay usable for the next run.
            }
        }
    }

    private static OnnxModelHeader ReadHeader(Func<OnnxModelHeader> read)
    {
        try
        {
            return read();
        }
        catch (InvalidModelFileException)
        {
            return OnnxModelHeader.Empty; // ONNX Runtime reports what is wrong, in its own words, when it loads.
        }
    }

    private static OnnxNodeInfo Describe(OrtIoInfo info)
    {
        var shape = new OnnxDimension[info.Dims.Length];
        for (var i = 0; i < shape.Length; i++)
        {
            shape[i] = info.Dims[i] >= 0 ? new OnnxDimension(info.Dims[i]) : new OnnxDimension(-1, info.SymbolicDims[i]);
        }

        return new OnnxNodeInfo(info.Name, (OnnxElementType)info.ElementType, shape, IsTensor: info.OnnxType == 1);
    }

    private OnnxModelMetadata ReadMetadata()
    {
        ObjectDisposedException.ThrowIf(Handle.IsClosed, this);
        var native = OrtNative.ReadModelMetadata(Handle);
        return new OnnxModelMetadata(
            native.ProducerName,
            _header.ProducerVersion,
            native.GraphName,
            native.Domain,
            native.Description,
            native.GraphDescription,
            native.Version,
            _header.IrVersion,
            _header.Opsets,
            native.Custom);
    }
}
