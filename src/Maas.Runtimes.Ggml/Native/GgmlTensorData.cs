namespace Maas.Runtimes.Ggml.Native;

/// <summary>
/// Reads and writes ggml tensors (pointers into a context that <see cref="SafeGgmlContextHandle"/> owns): their data
/// through the backend, and the sizes, strides and sources of their header. The only code that dereferences a tensor.
/// </summary>
internal static unsafe class GgmlTensorData
{
    /// <summary>Copies <paramref name="values"/> into the tensor's data from its first byte.</summary>
    public static void Set<T>(IntPtr tensor, ReadOnlySpan<T> values)
        where T : unmanaged
    {
        fixed (T* p = values)
        {
            GgmlApi.ggml_backend_tensor_set(tensor, p, 0, (nuint)(values.Length * sizeof(T)));
        }
    }

    /// <summary>Copies the tensor's data from its first byte into <paramref name="values"/> (as many as it holds).</summary>
    public static void Get<T>(IntPtr tensor, Span<T> values)
        where T : unmanaged
    {
        fixed (T* p = values)
        {
            GgmlApi.ggml_backend_tensor_get(tensor, p, 0, (nuint)(values.Length * sizeof(T)));
        }
    }

    /// <summary>The tensor's size in dimension <paramref name="dim"/> (0 to 3, 0 the fastest; ggml's <c>ne</c>).</summary>
    public static long Size(IntPtr tensor, int dim) => ((GgmlTensorHead*)Checked(tensor))->Ne[Dim(dim)];

    /// <summary>The bytes between elements in dimension <paramref name="dim"/> (ggml's <c>nb</c>).</summary>
    public static nuint Stride(IntPtr tensor, int dim) => (nuint)((GgmlTensorHead*)Checked(tensor))->Nb[Dim(dim)];

    /// <summary>The tensor's element count.</summary>
    public static long Elements(IntPtr tensor) => Size(tensor, 0) * Size(tensor, 1) * Size(tensor, 2) * Size(tensor, 3);

    /// <summary>The tensor's sizes in its four dimensions, the fastest first.</summary>
    public static long[] Shape(IntPtr tensor) => [Size(tensor, 0), Size(tensor, 1), Size(tensor, 2), Size(tensor, 3)];

    /// <summary>The operation's source <paramref name="index"/> (0 to 9; zero when it has none there).</summary>
    public static IntPtr Source(IntPtr tensor, int index) =>
        index is >= 0 and < 10 ? (IntPtr)((GgmlTensorHead*)Checked(tensor))->Src[index] : throw new ArgumentOutOfRangeException(nameof(index));

    private static int Dim(int dim) => dim is >= 0 and < 4 ? dim : throw new ArgumentOutOfRangeException(nameof(dim));

    private static IntPtr Checked(IntPtr tensor) => tensor != IntPtr.Zero ? tensor : throw new GgmlException("a ggml tensor was expected, and there is none");
}
