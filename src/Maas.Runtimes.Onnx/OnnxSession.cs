using Maas.Core.Formats;
using Maas.Core.Formats.Onnx;
using Microsoft.ML.OnnxRuntime;

namespace Maas.Runtimes.Onnx;

/// <summary>A loaded ONNX model ready to run (an <see cref="InferenceSession"/>); thread-safe for concurrent runs.</summary>
public sealed class OnnxSession : IDisposable
{
    // Runs without options of their own share one: ONNX Runtime only reads it, and a fresh one per run costs native calls.
    private static readonly Lazy<RunOptions> SharedRunOptions = new(() => new RunOptions());
    private readonly OnnxModelHeader _header;
    private readonly string[] _outputNames;
    private OnnxModelMetadata? _metadata;
    private bool _disposed;

    private OnnxSession(InferenceSession session, OnnxModelHeader header)
    {
        Session = session;
        _header = header;
        try
        {
            Inputs = session.InputNames.Select(n => Describe(n, session.InputMetadata[n])).ToArray();
            Outputs = session.OutputNames.Select(n => Describe(n, session.OutputMetadata[n], output: true)).ToArray();
            _outputNames = Outputs.Select(o => o.Name).ToArray();
        }
        catch
        {
            session.Dispose();
            throw;
        }
    }

    /// <summary>The inputs a run feeds (initializers are not listed).</summary>
    public IReadOnlyList<OnnxNodeInfo> Inputs { get; }

    /// <summary>The outputs a run can fetch.</summary>
    public IReadOnlyList<OnnxNodeInfo> Outputs { get; }

    /// <summary>The output names, in model order.</summary>
    public IReadOnlyList<string> OutputNames => _outputNames;

    /// <summary>Producer, graph, description, version, custom metadata map, IR version and opsets.</summary>
    public OnnxModelMetadata Metadata => _metadata ??= ReadMetadata();

    /// <summary>The managed API's session.</summary>
    internal InferenceSession Session { get; }

    /// <summary>Loads a model file (external data files next to it are found by ONNX Runtime).</summary>
    public static OnnxSession Open(string path, OnnxSessionOptions? options = null)
    {
        var fullPath = Path.GetFullPath(path);
        if (!File.Exists(fullPath))
        {
            throw new FileNotFoundException($"model file '{fullPath}' does not exist", fullPath);
        }

        var header = ReadHeader(() => OnnxModelHeader.Read(fullPath));
        return Create(options, o => new InferenceSession(fullPath, o), header);
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

        var bytes = model.ToArray(); // the managed API takes an array
        return Create(options, o => new InferenceSession(bytes, o), header);
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
        ObjectDisposedException.ThrowIf(_disposed, this);
        var names = outputNames as string[] ?? (outputNames ?? _outputNames).ToArray();
        var (inputNames, inputValues) = Split(inputs);
        var results = WithCancellation(runOptions, cancellationToken, options => Session.Run(options, inputNames, inputValues, names));
        var tensors = new OnnxTensor[results.Count];
        try
        {
            var i = 0;
            foreach (var value in results)
            {
                if (value.OnnxType == OnnxValueType.ONNX_TYPE_SEQUENCE)
                {
                    using (value)
                    {
                        tensors[i++] = OnnxSequenceOfMaps.ToTensor(value);
                    }
                }
                else
                {
                    tensors[i++] = new OnnxTensor(value);
                }
            }
        }
        catch
        {
            foreach (var tensor in tensors)
            {
                tensor?.Dispose(); // a converted sequence's tensor is not among the results
            }

            results.Dispose();
            throw;
        }

        return new OnnxValues(names, tensors);
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
        ObjectDisposedException.ThrowIf(_disposed, this);
        var (inputNames, inputValues) = Split(inputs);
        var (outputNames, outputValues) = Split(outputs);
        WithCancellation(runOptions, cancellationToken, options =>
        {
            Session.Run(options, inputNames, inputValues, outputNames, outputValues);
            return true;
        });
    }

    /// <summary>Runs with the inputs and outputs bound in <paramref name="binding"/>; fetch results with <see cref="OnnxIoBinding.GetOutputs"/>.</summary>
    public void Run(OnnxIoBinding binding, OnnxRunOptions? runOptions = null, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        WithCancellation(runOptions, cancellationToken, options =>
        {
            Session.RunWithBinding(options, binding.Binding);
            return true;
        });
    }

    /// <summary>A binding of inputs and outputs for repeated runs without re-marshalling names and values.</summary>
    public OnnxIoBinding CreateIoBinding()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        return new OnnxIoBinding(OnnxErrors.Call(Session.CreateIoBinding));
    }

    /// <summary>Releases the native session; tensors it returned stay valid.</summary>
    public void Dispose()
    {
        _disposed = true;
        Session.Dispose();
    }

    private static OnnxSession Create(OnnxSessionOptions? options, Func<SessionOptions, InferenceSession> load, OnnxModelHeader header)
    {
        var owned = options is null ? new OnnxSessionOptions() : null;
        try
        {
            return new OnnxSession(OnnxErrors.Call(() => load((options ?? owned!).Options)), header);
        }
        finally
        {
            owned?.Dispose();
        }
    }

    private static (string[] Names, OrtValue[] Values) Split(IReadOnlyCollection<KeyValuePair<string, OnnxTensor>> tensors)
    {
        var names = new string[tensors.Count];
        var values = new OrtValue[tensors.Count];
        var i = 0;
        foreach (var (name, tensor) in tensors)
        {
            names[i] = name;
            values[i] = tensor.Value;
            i++;
        }

        return (names, values);
    }

    // Cancellation sets ONNX Runtime's terminate flag on the run options the run uses; ONNX Runtime checks it between nodes.
    private static T WithCancellation<T>(OnnxRunOptions? runOptions, CancellationToken cancellationToken, Func<RunOptions, T> run)
    {
        if (!cancellationToken.CanBeCanceled)
        {
            return OnnxErrors.Call(() => run(runOptions?.Options ?? SharedRunOptions.Value));
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
                    return OnnxErrors.Call(() => run(options.Options));
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

    private static OnnxNodeInfo Describe(string name, NodeMetadata node, bool output = false)
    {
        if (output && OnnxSequenceOfMaps.IsServable(node))
        {
            return new OnnxNodeInfo(name, OnnxElementType.Float, [new OnnxDimension(-1), new OnnxDimension(-1)], IsTensor: true, FromMaps: true);
        }

        if (!node.IsTensor)
        {
            return new OnnxNodeInfo(name, OnnxElementType.Undefined, [], IsTensor: false);
        }

        var dims = node.Dimensions;
        var symbolic = node.SymbolicDimensions;
        var shape = new OnnxDimension[dims.Length];
        for (var i = 0; i < shape.Length; i++)
        {
            shape[i] = dims[i] >= 0 ? new OnnxDimension(dims[i]) : new OnnxDimension(-1, symbolic[i]);
        }

        return new OnnxNodeInfo(name, (OnnxElementType)node.ElementDataType, shape, IsTensor: true);
    }

    private OnnxModelMetadata ReadMetadata()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var native = OnnxErrors.Call(() => Session.ModelMetadata);
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
            native.CustomMetadataMap);
    }
}
