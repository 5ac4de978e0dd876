using System.Runtime.InteropServices;
using Maas.Runtimes.Llama.Native.Load;

namespace Maas.Runtimes.Llama.Native;

internal static unsafe partial class NativeApi
{
    [LibraryImport(LlamaLibrary.GgmlBase)]
    internal static partial IntPtr ggml_op_name(int op);

    [LibraryImport(LlamaLibrary.GgmlBase)]
    [return: MarshalAs(UnmanagedType.U1)]
    internal static partial bool ggml_backend_buffer_is_host(IntPtr buffer);

    [LibraryImport(LlamaLibrary.GgmlBase)]
    internal static partial void ggml_backend_tensor_get(GgmlTensor* tensor, void* data, nuint offset, nuint size);

    [LibraryImport(LlamaLibrary.GgmlBase)]
    internal static partial nuint ggml_nbytes(GgmlTensor* tensor);
}
