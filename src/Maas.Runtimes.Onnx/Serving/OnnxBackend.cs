using System.Diagnostics;
using Maas.Core.Formats.Onnx;
using Maas.Core.Hosting;
using Maas.Core.TensorServing;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Maas.Runtimes.Onnx.Serving;

/// <summary>
/// An ONNX model on ONNX Runtime: one session per instance, each with its own intra-op threads. Inputs are fed as
/// tensors over the request's own (pooled) buffers, without copying; outputs are copied once into pooled buffers.
/// </summary>
public sealed class OnnxBackend : IModelBackend
{
    private readonly OnnxSession[] _sessions;
    private readonly OnnxElementType[] _inputTypes;
    private readonly string _label;

    private OnnxBackend(string label, OnnxSession[] sessions, IReadOnlyList<string> providers)
    {
        _label = label;
        ExecutionProviders = providers;
        _sessions = sessions;
        var first = sessions[0];
        Inputs = first.Inputs.Select(i => Describe(label, "input", i)).ToArray();
        Outputs = first.Outputs.Select(o => Describe(label, "output", o)).ToArray();
        _inputTypes = first.Inputs.Select(i => i.ElementType).ToArray();
    }

    /// <inheritdoc />
    public string Platform => "onnxruntime_onnx";

    /// <inheritdoc />
    public IReadOnlyList<TensorMetadata> Inputs { get; }

    /// <inheritdoc />
    public IReadOnlyList<TensorMetadata> Outputs { get; }

    /// <inheritdoc />
    public int InstanceCount => _sessions.Length;

    /// <summary>The providers the sessions were given, in order (names from <see cref="Core.TensorServing.ExecutionProviders"/>); CPU always ends it.</summary>
    public IReadOnlyList<string> ExecutionProviders { get; }

    /// <summary>Creates the sessions; throws with ONNX Runtime's message when the model cannot load.</summary>
    public static OnnxBackend Load(ModelLoadSpec spec, ILogger? logger = null)
    {
        var label = $"model '{spec.Name}' version {spec.Version}";
        var providers = UsableProviders(label, spec.Providers, logger);
        var sessions = new List<OnnxSession>();
        try
        {
            for (var i = 0; i < Math.Max(1, spec.InstanceCount); i++)
            {
                using var options = new OnnxSessionOptions { LogId = $"{spec.Name}:{spec.Version}:{i}" };
                ApplyServingDefaults(options);
                if (spec.ThreadsPerInstance > 0)
                {
                    options.IntraOpThreads = spec.ThreadsPerInstance;
                    options.InterOpThreads = 1;
                }

                foreach (var provider in providers.Where(p => p != Core.TensorServing.ExecutionProviders.Cpu))
                {
                    options.AppendExecutionProvider(provider); // device 0 with the provider's defaults
                }

                sessions.Add(OnNamedThread(ThreadName(spec.Name), () => OnnxSession.Open(spec.ArtifactPath, options)));
            }

            return new OnnxBackend(label, [.. sessions], providers);
        }
        catch
        {
            sessions.ForEach(s => s.Dispose());
            throw;
        }
    }

    /// <summary>
    /// The name ONNX Runtime's threads of a model's sessions carry: "onnx:" and the model's name, cut to the 15
    /// characters a Linux thread name holds.
    /// </summary>
    public static string ThreadName(string model)
    {
        var name = "onnx:" + model;
        return name.Length <= 15 ? name : name[..15];
    }

    // ONNX Runtime creates a session's intra-op threads when it opens it, and a new native thread starts with its
    // creator's name (Linux copies it), so opening on a thread named after the model makes its engine threads
    // findable in top -H, perf and /proc/<pid>/task (the benchmark counts the engine's CPU per inference by name).
    // The opener waits: the load as a whole already runs on a thread of its own (TensorModelEngine).
    private static T OnNamedThread<T>(string name, Func<T> open) => DedicatedThread.Run(name, open).GetAwaiter().GetResult();

    /// <summary>
    /// The configured providers this ONNX Runtime build has, with CPU last. A GPU provider the build lacks is left out
    /// with a warning (the CPU package has none; the GPU build comes with -p:MaasOnnxGpu=true).
    /// </summary>
    public static IReadOnlyList<string> UsableProviders(string label, IReadOnlyList<string> configured, ILogger? logger)
    {
        if (Core.TensorServing.ExecutionProviders.Validate(configured.Count == 0 ? [Core.TensorServing.ExecutionProviders.Cpu] : configured, "providers") is [var problem, ..])
        {
            throw new ArgumentException($"{label}: {problem}");
        }

        var available = OnnxRuntime.AvailableProviders;
        var usable = new List<string>();
        foreach (var name in configured.Where(p => p != Core.TensorServing.ExecutionProviders.Cpu))
        {
            if (available.Contains(OrtProviderName(name)))
            {
                usable.Add(name);
            }
            else
            {
                MissingProvider(logger ?? NullLogger.Instance, label, name, string.Join(", ", available), null);
            }
        }

        usable.Add(Core.TensorServing.ExecutionProviders.Cpu);
        return usable;
    }

    /// <summary>
    /// Session settings for serving. Idle intra-op threads block instead of spinning: in a server they share the
    /// cores with the protocol threads, and spinning workers starve those (measured: several ms of added latency
    /// on two cores).
    /// </summary>
    public static void ApplyServingDefaults(OnnxSessionOptions options)
    {
        options.AddConfigEntry("session.intra_op.allow_spinning", "0");
        options.AddConfigEntry("session.inter_op.allow_spinning", "0");
    }

    /// <inheritdoc />
    public IReadOnlyList<Tensor> Run(int instance, IReadOnlyList<Tensor> inputs, IReadOnlyList<string> outputNames, ComputeTimings timings)
    {
        var start = Stopwatch.GetTimestamp();
        var feeds = new List<KeyValuePair<string, OnnxTensor>>(inputs.Count);
        try
        {
            foreach (var input in inputs)
            {
                feeds.Add(new(input.Name, ToOnnx(input)));
            }

            var fed = Stopwatch.GetTimestamp();
            timings.InputTicks += fed - start;
            using var values = _sessions[instance].Run(feeds, outputNames);
            var ran = Stopwatch.GetTimestamp();
            timings.InferTicks += ran - fed;
            var outputs = new Tensor[values.Count];
            try
            {
                for (var i = 0; i < values.Count; i++)
                {
                    outputs[i] = FromOnnx(outputNames[i], values[i]);
                }
            }
            catch
            {
                foreach (var t in outputs)
                {
                    t?.Dispose();
                }

                throw;
            }

            timings.OutputTicks += Stopwatch.GetTimestamp() - ran;
            return outputs;
        }
        catch (OnnxRuntimeException ex) when (ex.ErrorCode == OnnxRuntimeErrorCode.InvalidArgument)
        {
            throw new InferenceException(InferenceErrorKind.InvalidInput, $"{_label} rejected the input: {ex.EngineMessage}", ex);
        }
        catch (ArgumentException ex)
        {
            throw new InferenceException(InferenceErrorKind.InvalidInput, $"{_label}: {ex.Message}", ex);
        }
        finally
        {
            foreach (var feed in feeds)
            {
                feed.Value.Dispose();
            }
        }
    }

    private OnnxTensor ToOnnx(Tensor input)
    {
        if (input.DataType == TensorDataType.Bytes)
        {
            return OnnxTensor.CreateStrings(input.GetByteElements(), input.Shape);
        }

        // Zero copy: ONNX Runtime reads the request's buffer in place (pinned while the tensor lives).
        return OnnxTensor.CreateFromBytes(ToOnnxType(input.DataType), input.Data, input.Shape);
    }

    private static Tensor FromOnnx(string name, OnnxTensor value)
    {
        var type = FromOnnxType(value.ElementType)
            ?? throw new InferenceException(InferenceErrorKind.Internal, $"output '{name}' is {value.KServeDatatype}, which the v2 protocol cannot carry");
        if (type == TensorDataType.Bytes)
        {
            return Tensor.FromByteStrings(name, value.Shape, value.GetStringBytes());
        }

        var tensor = Tensor.Allocate(name, type, value.Shape);
        value.GetBytes().CopyTo(tensor.Data.Span);
        return tensor;
    }

    private static TensorMetadata Describe(string label, string role, OnnxNodeInfo node)
    {
        var type = node.IsTensor ? FromOnnxType(node.ElementType) : null;
        if (type is null)
        {
            throw new NotSupportedException(
                $"{label}: {role} '{node.Name}' is {node.KServeDatatype}, which the Open Inference Protocol cannot carry; MaaS serves models whose inputs and outputs are " +
                $"{TensorDataTypes.NameList} tensors");
        }

        return new TensorMetadata(node.Name, type.Value, node.Dims);
    }

    private static string OrtProviderName(string name) => name switch
    {
        Core.TensorServing.ExecutionProviders.Cuda => "CUDAExecutionProvider",
        Core.TensorServing.ExecutionProviders.TensorRt => "TensorrtExecutionProvider",
        _ => "CPUExecutionProvider",
    };

    private static readonly Action<ILogger, string, string, string, Exception?> MissingProvider = LoggerMessage.Define<string, string, string>(
        LogLevel.Warning,
        new EventId(1100, "OnnxProviderMissing"),
        "{Model}: execution provider '{Provider}' is not in this ONNX Runtime build (it has {Available}); left out. Build with -p:MaasOnnxGpu=true for CUDA and TensorRT");

    /// <summary>The ONNX element type of a protocol datatype.</summary>
    public static OnnxElementType ToOnnxType(TensorDataType type) => type switch
    {
        TensorDataType.Bool => OnnxElementType.Bool,
        TensorDataType.UInt8 => OnnxElementType.UInt8,
        TensorDataType.UInt16 => OnnxElementType.UInt16,
        TensorDataType.UInt32 => OnnxElementType.UInt32,
        TensorDataType.UInt64 => OnnxElementType.UInt64,
        TensorDataType.Int8 => OnnxElementType.Int8,
        TensorDataType.Int16 => OnnxElementType.Int16,
        TensorDataType.Int32 => OnnxElementType.Int32,
        TensorDataType.Int64 => OnnxElementType.Int64,
        TensorDataType.FP16 => OnnxElementType.Float16,
        TensorDataType.BF16 => OnnxElementType.BFloat16,
        TensorDataType.FP32 => OnnxElementType.Float,
        TensorDataType.FP64 => OnnxElementType.Double,
        TensorDataType.Bytes => OnnxElementType.String,
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, null),
    };

    /// <summary>The protocol datatype of an ONNX element type, or null when the protocol has none.</summary>
    public static TensorDataType? FromOnnxType(OnnxElementType type) =>
        OnnxElementTypes.ToKServe(type) is { } name && TensorDataTypes.TryParse(name, out var t) ? t : null;

    /// <summary>Releases the sessions.</summary>
    public void Dispose()
    {
        foreach (var s in _sessions)
        {
            s.Dispose();
        }
    }
}
