using System.Runtime.InteropServices;
using Maas.Runtimes.Llama.Native.Load;

namespace Maas.Runtimes.Llama.Native;

internal static unsafe partial class NativeApi
{
    [LibraryImport(LlamaLibrary.Llama)]
    internal static partial LlamaNativeBatch llama_batch_init(int tokens, int embd, int maxSequencesPerToken);

    [LibraryImport(LlamaLibrary.Llama)]
    internal static partial void llama_batch_free(LlamaNativeBatch batch);

    [LibraryImport(LlamaLibrary.Llama)]
    internal static partial int llama_decode(SafeLlamaContextHandle context, LlamaNativeBatch batch);

    [LibraryImport(LlamaLibrary.Llama)]
    internal static partial int llama_encode(SafeLlamaContextHandle context, LlamaNativeBatch batch);
}
