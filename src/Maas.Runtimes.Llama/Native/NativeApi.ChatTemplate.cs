using System.Runtime.InteropServices;
using System.Text;
using Maas.Runtimes.Llama.Native.Load;

namespace Maas.Runtimes.Llama.Native;

internal static unsafe partial class NativeApi
{
    [LibraryImport(LlamaLibrary.Llama)]
    internal static partial int llama_chat_apply_template(
        byte* template,
        LlamaNativeChatMessage* chat,
        nuint messageCount,
        [MarshalAs(UnmanagedType.U1)] bool addAssistant,
        byte* buffer,
        int length);

    [LibraryImport(LlamaLibrary.Llama)]
    internal static partial int llama_chat_builtin_templates(byte** output, nuint length);

    /// <summary>Formats a chat with a template (Jinja source or built-in name); null when llama.cpp does not know the template.</summary>
    internal static string? ApplyChatTemplate(string template, IReadOnlyList<LlamaChatMessage> messages, bool addAssistant)
    {
        // Every string becomes one NUL-terminated UTF-8 block, pinned for the duration of the call.
        var strings = new byte[(messages.Count * 2) + 1][];
        strings[0] = NulTerminated(template);
        for (var i = 0; i < messages.Count; i++)
        {
            strings[1 + (2 * i)] = NulTerminated(messages[i].Role);
            strings[2 + (2 * i)] = NulTerminated(messages[i].Content);
        }

        var handles = new GCHandle[strings.Length];
        try
        {
            for (var i = 0; i < strings.Length; i++)
            {
                handles[i] = GCHandle.Alloc(strings[i], GCHandleType.Pinned);
            }

            var chat = new LlamaNativeChatMessage[Math.Max(1, messages.Count)];
            for (var i = 0; i < messages.Count; i++)
            {
                chat[i].Role = (byte*)handles[1 + (2 * i)].AddrOfPinnedObject();
                chat[i].Content = (byte*)handles[2 + (2 * i)].AddrOfPinnedObject();
            }

            var capacity = 256 + (2 * strings.Sum(s => s.Length));
            while (true)
            {
                var buffer = new byte[capacity];
                int written;
                fixed (LlamaNativeChatMessage* chatPtr = chat)
                fixed (byte* bufferPtr = buffer)
                {
                    written = llama_chat_apply_template(
                        (byte*)handles[0].AddrOfPinnedObject(), chatPtr, (nuint)messages.Count, addAssistant, bufferPtr, buffer.Length);
                }

                if (written < 0)
                {
                    return null;
                }

                if (written <= buffer.Length)
                {
                    return Encoding.UTF8.GetString(buffer, 0, written);
                }

                capacity = written;
            }
        }
        finally
        {
            foreach (var h in handles)
            {
                if (h.IsAllocated)
                {
                    h.Free();
                }
            }
        }
    }

    /// <summary>Names of the chat templates llama.cpp formats without a Jinja engine ("chatml", "llama2", ...).</summary>
    internal static List<string> BuiltInChatTemplates()
    {
        var count = llama_chat_builtin_templates(null, 0);
        var names = new IntPtr[count];
        fixed (IntPtr* p = names)
        {
            llama_chat_builtin_templates((byte**)p, (nuint)count);
        }

        return names.Select(n => Utf8((byte*)n)!).ToList();
    }

    private static byte[] NulTerminated(string text)
    {
        var bytes = new byte[Encoding.UTF8.GetByteCount(text) + 1];
        Encoding.UTF8.GetBytes(text, bytes);
        return bytes;
    }
}
