using System.Runtime.InteropServices;

namespace Maas.Runtimes.Llama.Native;

/// <summary>Mirror of <c>struct llama_chat_message</c>: two UTF-8 C strings.</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct LlamaNativeChatMessage
{
    public byte* Role;
    public byte* Content;
}
