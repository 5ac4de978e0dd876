using System.Runtime.InteropServices;

namespace Maas.Runtimes.Llama.Native;

/// <summary>Mirror of <c>struct llama_batch</c>: parallel arrays of n_tokens entries, allocated by llama_batch_init.</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct LlamaNativeBatch
{
    public int NTokens;
    public int* Token;
    public float* Embd;
    public int* Pos;
    public int* NSeqId;
    public int** SeqId;
    public sbyte* Logits;
}
