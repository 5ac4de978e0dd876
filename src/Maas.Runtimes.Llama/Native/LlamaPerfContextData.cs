using System.Runtime.InteropServices;

namespace Maas.Runtimes.Llama.Native;

/// <summary>Mirror of <c>struct llama_perf_context_data</c>.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct LlamaPerfContextData
{
    public double TStartMs;
    public double TLoadMs;
    public double TPEvalMs;
    public double TEvalMs;
    public int NPEval;
    public int NEval;
    public int NReused;
}
