using System.Runtime.InteropServices;
using Maas.Runtimes.Llama.Native.Load;

namespace Maas.Runtimes.Llama.Native;

internal static unsafe partial class NativeApi
{
    [LibraryImport(LlamaLibrary.Llama)]
    internal static partial nuint llama_state_get_size(SafeLlamaContextHandle context);

    [LibraryImport(LlamaLibrary.Llama)]
    internal static partial nuint llama_state_get_data(SafeLlamaContextHandle context, byte* destination, nuint size);

    [LibraryImport(LlamaLibrary.Llama)]
    internal static partial nuint llama_state_set_data(SafeLlamaContextHandle context, byte* source, nuint size);

    [LibraryImport(LlamaLibrary.Llama)]
    internal static partial nuint llama_state_seq_get_size(SafeLlamaContextHandle context, int sequence);

    [LibraryImport(LlamaLibrary.Llama)]
    internal static partial nuint llama_state_seq_get_data(SafeLlamaContextHandle context, byte* destination, nuint size, int sequence);

    [LibraryImport(LlamaLibrary.Llama)]
    internal static partial nuint llama_state_seq_set_data(SafeLlamaContextHandle context, byte* source, nuint size, int destinationSequence);
}
