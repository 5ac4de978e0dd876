using System.Runtime.InteropServices;

namespace Maas.Runtimes.Llama.Native;

/// <summary>Mirror of ggml.h's <c>ggml_threadpool_params</c> (528 bytes); fill it with <c>ggml_threadpool_params_init</c>.</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct GgmlThreadpoolParams
{
    public fixed byte CpuMask[512]; // GGML_MAX_N_THREADS bools, one per core; all zero keeps the inherited affinity
    public int NThreads;
    public int Priority; // enum ggml_sched_priority
    public uint Poll; // 0 no busy-waiting .. 100 mostly busy-waiting
    public byte StrictCpu;
    public byte Paused;
}
