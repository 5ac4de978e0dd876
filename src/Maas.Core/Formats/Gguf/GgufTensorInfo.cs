namespace Maas.Core.Formats.Gguf;

/// <summary>A tensor described in a GGUF header: name, shape (ggml order, fastest dimension first), type and data offset.</summary>
/// <param name="Name">Tensor name, e.g. "blk.0.attn_q.weight".</param>
/// <param name="Dimensions">ne[0..n_dims): ne[0] is the row length.</param>
/// <param name="Type">The ggml element type.</param>
/// <param name="Offset">Byte offset of the data, relative to the start of the data section.</param>
public sealed record GgufTensorInfo(string Name, IReadOnlyList<long> Dimensions, GgmlType Type, ulong Offset)
{
    /// <summary>Number of elements (product of the dimensions).</summary>
    public long ElementCount
    {
        get
        {
            long n = 1;
            foreach (var d in Dimensions)
            {
                n = checked(n * d);
            }

            return n;
        }
    }

    /// <summary>Bytes of tensor data, from the type's block geometry.</summary>
    public ulong ByteSize => GgmlTypeTraits.ByteSize(Type, Dimensions)
        ?? throw new InvalidOperationException($"tensor '{Name}' has a shape that {Type} cannot store");
}
