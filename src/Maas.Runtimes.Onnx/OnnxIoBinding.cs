using Microsoft.ML.OnnxRuntime;

namespace Maas.Runtimes.Onnx;

/// <summary>Inputs and outputs bound to a session once and reused across runs (ONNX Runtime's IO binding).</summary>
/// <remarks>Bound tensors are kept referenced here so their memory stays pinned while bound.</remarks>
public sealed class OnnxIoBinding : IDisposable
{
    private readonly List<OnnxTensor> _inputs = [];
    private readonly List<OnnxTensor> _outputs = [];
    private bool _disposed;

    internal OnnxIoBinding(OrtIoBinding binding) => Binding = binding;

    /// <summary>The managed API's binding.</summary>
    internal OrtIoBinding Binding { get; }

    /// <summary>Binds a tensor to the input <paramref name="name"/>.</summary>
    public void BindInput(string name, OnnxTensor tensor)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        OnnxErrors.Call(() => Binding.BindInput(name, tensor.Value));
        _inputs.Add(tensor);
    }

    /// <summary>Binds a caller-made tensor that the output <paramref name="name"/> is written into.</summary>
    public void BindOutput(string name, OnnxTensor tensor)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        OnnxErrors.Call(() => Binding.BindOutput(name, tensor.Value));
        _outputs.Add(tensor);
    }

    /// <summary>Binds the output <paramref name="name"/> to CPU memory ONNX Runtime allocates once the shape is known.</summary>
    public void BindOutput(string name)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        OnnxErrors.Call(() => Binding.BindOutputToDevice(name, OrtMemoryInfo.DefaultInstance));
    }

    /// <summary>Removes every bound input.</summary>
    public void ClearInputs()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        Binding.ClearBoundInputs();
        _inputs.Clear();
    }

    /// <summary>Removes every bound output.</summary>
    public void ClearOutputs()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        Binding.ClearBoundOutputs();
        _outputs.Clear();
    }

    /// <summary>The outputs of the last run, in binding order; the caller owns (and disposes) them.</summary>
    public OnnxValues GetOutputs()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var names = OnnxErrors.Call(Binding.GetOutputNames);
        var values = OnnxErrors.Call(Binding.GetOutputValues);
        var tensors = new OnnxTensor[values.Count];
        try
        {
            var i = 0;
            foreach (var value in values)
            {
                tensors[i++] = new OnnxTensor(value);
            }
        }
        catch
        {
            values.Dispose();
            throw;
        }

        return new OnnxValues([.. names], tensors);
    }

    /// <summary>Releases the binding (bound tensors stay owned by their creators).</summary>
    public void Dispose()
    {
        _disposed = true;
        Binding.Dispose();
        _inputs.Clear();
        _outputs.Clear();
    }
}
