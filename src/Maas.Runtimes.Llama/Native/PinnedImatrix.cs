using System.Runtime.InteropServices;

namespace Maas.Runtimes.Llama.Native;

/// <summary>The native array of <c>llama_model_imatrix_data</c> and the memory it points to.</summary>
internal sealed class PinnedImatrix : IDisposable
{
    private readonly List<GCHandle> _handles = [];
    private readonly List<IntPtr> _names = [];

    public PinnedImatrix(IReadOnlyDictionary<string, float[]> entries)
    {
        var array = new LlamaModelImatrixData[entries.Count + 1];
        var i = 0;
        foreach (var (name, values) in entries)
        {
            var handle = GCHandle.Alloc(values, GCHandleType.Pinned);
            _handles.Add(handle);
            var namePointer = Marshal.StringToCoTaskMemUTF8(name);
            _names.Add(namePointer);
            array[i++] = new LlamaModelImatrixData { Name = namePointer, Data = handle.AddrOfPinnedObject(), Size = (nuint)values.Length };
        }

        var arrayHandle = GCHandle.Alloc(array, GCHandleType.Pinned);
        _handles.Add(arrayHandle);
        Pointer = arrayHandle.AddrOfPinnedObject();
    }

    public IntPtr Pointer { get; }

    public void Dispose()
    {
        foreach (var handle in _handles)
        {
            handle.Free();
        }

        foreach (var name in _names)
        {
            Marshal.FreeCoTaskMem(name);
        }

        _handles.Clear();
        _names.Clear();
    }
}
