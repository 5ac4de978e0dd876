using System.Runtime.InteropServices;
using Maas.Runtimes.Llama.Native.Load;

namespace Maas.Runtimes.Llama.Native;

internal static unsafe partial class NativeApi
{
    [LibraryImport(LlamaLibrary.Llama)]
    internal static partial LlamaVocabularyType llama_vocab_type(IntPtr vocab);

    [LibraryImport(LlamaLibrary.Llama)]
    internal static partial int llama_vocab_n_tokens(IntPtr vocab);

    [LibraryImport(LlamaLibrary.Llama)]
    internal static partial byte* llama_vocab_get_text(IntPtr vocab, int token);

    [LibraryImport(LlamaLibrary.Llama)]
    internal static partial float llama_vocab_get_score(IntPtr vocab, int token);

    [LibraryImport(LlamaLibrary.Llama)]
    internal static partial LlamaTokenAttributes llama_vocab_get_attr(IntPtr vocab, int token);

    [LibraryImport(LlamaLibrary.Llama)]
    [return: MarshalAs(UnmanagedType.U1)]
    internal static partial bool llama_vocab_is_eog(IntPtr vocab, int token);

    [LibraryImport(LlamaLibrary.Llama)]
    [return: MarshalAs(UnmanagedType.U1)]
    internal static partial bool llama_vocab_is_control(IntPtr vocab, int token);

    [LibraryImport(LlamaLibrary.Llama)]
    internal static partial int llama_vocab_bos(IntPtr vocab);

    [LibraryImport(LlamaLibrary.Llama)]
    internal static partial int llama_vocab_eos(IntPtr vocab);

    [LibraryImport(LlamaLibrary.Llama)]
    internal static partial int llama_vocab_eot(IntPtr vocab);

    [LibraryImport(LlamaLibrary.Llama)]
    internal static partial int llama_vocab_sep(IntPtr vocab);

    [LibraryImport(LlamaLibrary.Llama)]
    internal static partial int llama_vocab_nl(IntPtr vocab);

    [LibraryImport(LlamaLibrary.Llama)]
    internal static partial int llama_vocab_pad(IntPtr vocab);

    [LibraryImport(LlamaLibrary.Llama)]
    [return: MarshalAs(UnmanagedType.U1)]
    internal static partial bool llama_vocab_get_add_bos(IntPtr vocab);

    [LibraryImport(LlamaLibrary.Llama)]
    [return: MarshalAs(UnmanagedType.U1)]
    internal static partial bool llama_vocab_get_add_eos(IntPtr vocab);

    [LibraryImport(LlamaLibrary.Llama)]
    internal static partial int llama_tokenize(
        IntPtr vocab,
        byte* text,
        int textLength,
        int* tokens,
        int maxTokens,
        [MarshalAs(UnmanagedType.U1)] bool addSpecial,
        [MarshalAs(UnmanagedType.U1)] bool parseSpecial);

    [LibraryImport(LlamaLibrary.Llama)]
    internal static partial int llama_token_to_piece(
        IntPtr vocab,
        int token,
        byte* buffer,
        int length,
        int leftStrip,
        [MarshalAs(UnmanagedType.U1)] bool special);

    [LibraryImport(LlamaLibrary.Llama)]
    internal static partial int llama_detokenize(
        IntPtr vocab,
        int* tokens,
        int tokenCount,
        byte* text,
        int maxLength,
        [MarshalAs(UnmanagedType.U1)] bool removeSpecial,
        [MarshalAs(UnmanagedType.U1)] bool unparseSpecial);
}
