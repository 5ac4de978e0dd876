using System.Diagnostics;
using Maas.Core.Formats;

namespace Maas.Core.TensorServing;

/// <summary>An input or output of a model: name, datatype and shape (-1 for a dimension fixed only at run time).</summary>
public sealed record TensorMetadata(string Name, TensorDataType DataType, long[] Shape)
{
    /// <summary>True when the first dimension is dynamic, so requests can be stacked along it.</summary>
    public bool HasDynamicBatchDimension => Shape.Length > 0 && Shape[0] < 0;
}

/// <summary>A loaded model on some engine: its signature and a fixed number of instances that can run at once.</summary>
/// <remarks>Disposing unloads it; the scheduler guarantees no run is in progress by then.</remarks>
public interface IModelBackend : IDisposable
{
    /// <summary>The platform name shown in model metadata (e.g. "onnxruntime_onnx").</summary>
    string Platform { get; }

    /// <summary>The inputs the model takes.</summary>
    IReadOnlyList<TensorMetadata> Inputs { get; }

    /// <summary>The outputs the model produces.</summary>
    IReadOnlyList<TensorMetadata> Outputs { get; }

    /// <summary>How many runs may proceed at once (one per instance, e.g. one engine session each).</summary>
    int InstanceCount { get; }

    /// <summary>
    /// Runs the model on one instance. Never called twice at once for the same <paramref name="instance"/>.
    /// Returns the named outputs in that order; the caller owns (disposes) the returned tensors, not the inputs.
    /// </summary>
    IReadOnlyList<Tensor> Run(int instance, IReadOnlyList<Tensor> inputs, IReadOnlyList<string> outputNames, ComputeTimings timings);
}

/// <summary>Loads models of the formats it knows into backends.</summary>
public interface IModelBackendFactory
{
    /// <summary>The engine's name in states, metrics and logs (e.g. <c>onnxruntime</c>).</summary>
    string Engine { get; }

    /// <summary>True when this factory can load <paramref name="format"/>.</summary>
    bool CanLoad(ModelFormat format);

    /// <summary>Loads the model; slow (reads and optimises the model), so call it off the request path.</summary>
    IModelBackend Load(ModelLoadSpec spec, CancellationToken cancellationToken);
}

/// <summary>What a backend needs to load one model version.</summary>
/// <param name="Name">The model name (for messages and logs).</param>
/// <param name="Version">The version.</param>
/// <param name="ArtifactPath">The model file on local disk.</param>
/// <param name="InstanceCount">How many instances (sessions) to create.</param>
/// <param name="ThreadsPerInstance">Intra-op threads per instance; 0 lets the engine choose.</param>
public sealed record ModelLoadSpec(string Name, int Version, string ArtifactPath, int InstanceCount, int ThreadsPerInstance)
{
    /// <summary>Execution providers in order of preference (<see cref="ExecutionProviders"/>); empty means CPU only.</summary>
    public IReadOnlyList<string> Providers { get; init; } = [];
}

/// <summary>Time a run spends preparing inputs, executing and extracting outputs, in <see cref="Stopwatch"/> ticks.</summary>
public sealed class ComputeTimings
{
    /// <summary>Preparing input tensors (batch assembly, engine tensor creation).</summary>
    public long InputTicks { get; set; }

    /// <summary>Executing the model.</summary>
    public long InferTicks { get; set; }

    /// <summary>Extracting outputs (engine tensors to pooled buffers, splitting a batch).</summary>
    public long OutputTicks { get; set; }

    /// <summary>Converts ticks to nanoseconds.</summary>
    public static long ToNanoseconds(long ticks) => (long)(ticks * (1_000_000_000.0 / Stopwatch.Frequency));
}
