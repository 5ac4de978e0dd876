using System.Runtime.InteropServices;

namespace Maas.Runtimes.Llama.Native;

/// <summary>Mirror of <c>struct ggml_tensor</c> of the pinned ggml.h (GGML_MAX_DIMS 4, GGML_MAX_OP_PARAMS 64, GGML_MAX_SRC 10, GGML_MAX_NAME 64), read only.</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct GgmlTensor
{
    public int Type;                        // enum ggml_type
    public IntPtr Buffer;                   // struct ggml_backend_buffer *
    public fixed long Ne[4];                // elements per dimension
    public fixed ulong Nb[4];               // stride in bytes per dimension
    public int Op;                          // enum ggml_op
    public fixed int OpParams[16];
    public int Flags;
    public IntPtr Src0;                     // src[GGML_MAX_SRC]
    public IntPtr Src1;
    public IntPtr Src2;
    public IntPtr Src3;
    public IntPtr Src4;
    public IntPtr Src5;
    public IntPtr Src6;
    public IntPtr Src7;
    public IntPtr Src8;
    public IntPtr Src9;
    public IntPtr ViewSrc;
    public nuint ViewOffs;
    public IntPtr Data;
    public fixed byte Name[64];
    public IntPtr Extra;
    public fixed byte Padding[8];

    /// <summary>The tensor's name (NUL-terminated in the struct).</summary>
    public readonly string NameString()
    {
        fixed (byte* name = Name)
        {
            return Marshal.PtrToStringUTF8((IntPtr)name, Math.Max(0, new ReadOnlySpan<byte>(name, 64).IndexOf((byte)0) is var n and >= 0 ? n : 64)) ?? "";
        }
    }
}
