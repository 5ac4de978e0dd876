namespace Maas.Runtimes.Onnx;

/// <summary>Tensors returned by a run, in the order asked for, also reachable by name; disposing disposes them all.</summary>
public sealed class OnnxValues : IReadOnlyList<OnnxTensor>, IDisposable
{
    private readonly OnnxTensor[] _tensors;
    private readonly string[] _names;

    internal OnnxValues(string[] names, OnnxTensor[] tensors)
    {
        _names = names;
        _tensors = tensors;
    }

    /// <summary>The output names, in order.</summary>
    public IReadOnlyList<string> Names => _names;

    /// <inheritdoc />
    public int Count => _tensors.Length;

    /// <inheritdoc />
    public OnnxTensor this[int index] => _tensors[index];

    /// <summary>The tensor of the output named <paramref name="name"/>.</summary>
    public OnnxTensor this[string name]
    {
        get
        {
            var index = Array.IndexOf(_names, name);
            return index >= 0 ? _tensors[index] : throw new KeyNotFoundException($"no output named '{name}' in this result");
        }
    }

    /// <inheritdoc />
    public IEnumerator<OnnxTensor> GetEnumerator() => ((IEnumerable<OnnxTensor>)_tensors).GetEnumerator();

    System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();

    /// <summary>Disposes every tensor.</summary>
    public void Dispose()
    {
        foreach (var tensor in _tensors)
        {
            tensor.Dispose();
        }
    }
}
