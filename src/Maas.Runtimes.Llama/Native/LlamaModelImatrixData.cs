using System.Runtime.InteropServices;

namespace Maas.Runtimes.Llama.Native;

/// <summary>Mirror of <c>struct llama_model_imatrix_data</c>: one weight's importance values; an entry with a null name ends the array.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct LlamaModelImatrixData
{
    public IntPtr Name;                     // const char *
    public IntPtr Data;                     // const float *
    public nuint Size;
}
