namespace Maas.Core.TensorServing;

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
