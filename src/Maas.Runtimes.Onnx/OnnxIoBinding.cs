using Maas.Runtimes.Onnx.Native;

namespace Maas.Runtimes.Onnx;

/// <summary>Inputs and outputs bound to a session once and reused across runs (ONNX Runtime's IO binding).</summary>
/// <remarks>Bound tensors are kept referenced here so their memory stays pinned while bound.</remarks>
public sealed class OnnxIoBinding : IDisposable
{
    private readonly List<OnnxTensor> _inputs = [];
    private readonly List<OnnxTensor> _outputs = [];

    internal OnnxIoBinding(OrtIoBindingHandle handle) => Handle = handle;

    internal OrtIoBindingHandle Handle { get; }

    /// <summary>Binds a tensor to the input <paramref name="name"/>.</summary>
    public void BindInput(string name, OnnxTensor tensor)
    {
        ObjectDisposedException.ThrowIf(Handle.IsClosed, this);
        OrtNative.Bind(Handle, name, tensor.Handle, output: false);
        _inputs.Add(tensor);
    }

    /// <summary>Binds a caller-made tensor that the output <paramref name="name"/> is written into.</summary>
    public void BindOutput(string name, OnnxTensor tensor)
    {
        ObjectDisposedException.ThrowIf(Handle.IsClosed, this);
        OrtNative.Bind(Handle, name, tensor.Handle, output: true);
        _outputs.Add(tensor);
    }

    /// <summary>Binds the output <paramref name="name"/> to CPU memory ONNX Runtime allocates once the shape is known.</summary>
    public void BindOutput(string name)
    {
        ObjectDisposedException.ThrowIf(Handle.IsClosed, this);
        OrtNative.BindOutputToCpu(Handle, name);
    }

    /// <summary>Removes every bound input.</summary>
    public void ClearInputs()
    {
        ObjectDisposedException.ThrowIf(Handle.IsClosed, this);
        OrtNative.ClearBindings(Handle, outputs: false);
        _inputs.Clear();
    }

    /// <summary>Removes every bound output.</summary>
    public void ClearOutputs()
    {
        ObjectDisposedException.ThrowIf(Handle.IsClosed, this);
        OrtNative.ClearBindings(Handle, outputs: true);
        _outputs.Clear();
    }

    /// <summary>The outputs of the last run, in binding order; the caller owns (and disposes) them.</summary>
    public OnnxValues GetOutputs()
    {
        ObjectDisposedException.ThrowIf(Handle.IsClosed, this);
        var bound = OrtNative.BoundOutputs(Handle);
        var tensors = new OnnxTensor[bound.Length];
        try
        {
            for (var i = 0; i < bound.Length; i++)
            {
                tensors[i] = new OnnxTensor(bound[i].Value);
            }
        }
        catch
        {
            foreach (var (_, value) in bound)
            {
                value.Dispose();
            }

            throw;
        }

        return new OnnxValues(bound.Select(b => b.Name).ToArray(), tensors);
    }

    /// <summary>Releases the binding (bound tensors stay owned by their creators).</summary>
    public void Dispose()
    {
        Handle.Dispose();
        _inputs.Clear();
        _outputs.Clear();
    }
}
