using System.Runtime.InteropServices;
using Maas.Runtimes.Llama.Native.Load;

namespace Maas.Runtimes.Llama.Native;

internal static unsafe partial class NativeApi
{
    [LibraryImport(LlamaLibrary.Llama)]
    internal static partial void llama_memory_clear(IntPtr memory, [MarshalAs(UnmanagedType.U1)] bool data);

    [LibraryImport(LlamaLibrary.Llama)]
    [return: MarshalAs(UnmanagedType.U1)]
    internal static partial bool llama_memory_seq_rm(IntPtr memory, int sequence, int p0, int p1);

    [LibraryImport(LlamaLibrary.Llama)]
    internal static partial void llama_memory_seq_cp(IntPtr memory, int source, int destination, int p0, int p1);

    [LibraryImport(LlamaLibrary.Llama)]
    internal static partial void llama_memory_seq_keep(IntPtr memory, int sequence);

    [LibraryImport(LlamaLibrary.Llama)]
    internal static partial void llama_memory_seq_add(IntPtr memory, int sequence, int p0, int p1, int delta);

    [LibraryImport(LlamaLibrary.Llama)]
    internal static partial void llama_memory_seq_div(IntPtr memory, int sequence, int p0, int p1, int divisor);

    [LibraryImport(LlamaLibrary.Llama)]
    internal static partial int llama_memory_seq_pos_min(IntPtr memory, int sequence);

    [LibraryImport(LlamaLibrary.Llama)]
    internal static partial int llama_memory_seq_pos_max(IntPtr memory, int sequence);

    [LibraryImport(LlamaLibrary.Llama)]
    [return: MarshalAs(UnmanagedType.U1)]
    internal static partial bool llama_memory_can_shift(IntPtr memory);
}
