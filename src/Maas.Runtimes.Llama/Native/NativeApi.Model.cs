using System.Runtime.InteropServices;
using Maas.Runtimes.Llama.Native.Load;

namespace Maas.Runtimes.Llama.Native;

internal static unsafe partial class NativeApi
{
    [LibraryImport(LlamaLibrary.Llama)]
    internal static partial LlamaModelParams llama_model_default_params();

    [LibraryImport(LlamaLibrary.Llama, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial IntPtr llama_model_load_from_file(string path, LlamaModelParams parameters);

    [LibraryImport(LlamaLibrary.Llama)]
    internal static partial void llama_model_free(IntPtr model);

    [LibraryImport(LlamaLibrary.Llama)]
    internal static partial IntPtr llama_model_get_vocab(SafeLlamaModelHandle model);

    [LibraryImport(LlamaLibrary.Llama)]
    internal static partial int llama_model_n_ctx_train(SafeLlamaModelHandle model);

    [LibraryImport(LlamaLibrary.Llama)]
    internal static partial int llama_model_n_embd(SafeLlamaModelHandle model);

    [LibraryImport(LlamaLibrary.Llama)]
    internal static partial int llama_model_n_layer(SafeLlamaModelHandle model);

    [LibraryImport(LlamaLibrary.Llama)]
    internal static partial int llama_model_n_head(SafeLlamaModelHandle model);

    [LibraryImport(LlamaLibrary.Llama)]
    internal static partial int llama_model_n_head_kv(SafeLlamaModelHandle model);

    [LibraryImport(LlamaLibrary.Llama)]
    internal static partial int llama_model_n_swa(SafeLlamaModelHandle model);

    [LibraryImport(LlamaLibrary.Llama)]
    internal static partial ulong llama_model_n_params(SafeLlamaModelHandle model);

    [LibraryImport(LlamaLibrary.Llama)]
    internal static partial ulong llama_model_size(SafeLlamaModelHandle model);

    [LibraryImport(LlamaLibrary.Llama)]
    internal static partial int llama_model_desc(SafeLlamaModelHandle model, byte* buffer, nuint size);

    [LibraryImport(LlamaLibrary.Llama)]
    internal static partial int llama_model_meta_count(SafeLlamaModelHandle model);

    [LibraryImport(LlamaLibrary.Llama)]
    internal static partial int llama_model_meta_key_by_index(SafeLlamaModelHandle model, int index, byte* buffer, nuint size);

    [LibraryImport(LlamaLibrary.Llama)]
    internal static partial int llama_model_meta_val_str_by_index(SafeLlamaModelHandle model, int index, byte* buffer, nuint size);

    [LibraryImport(LlamaLibrary.Llama, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int llama_model_meta_val_str(SafeLlamaModelHandle model, string key, byte* buffer, nuint size);

    [LibraryImport(LlamaLibrary.Llama, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial byte* llama_model_chat_template(SafeLlamaModelHandle model, string? name);

    [LibraryImport(LlamaLibrary.Llama)]
    internal static partial LlamaFileType llama_model_ftype(SafeLlamaModelHandle model);

    [LibraryImport(LlamaLibrary.Llama)]
    internal static partial byte* llama_ftype_name(LlamaFileType fileType);

    [LibraryImport(LlamaLibrary.Llama)]
    [return: MarshalAs(UnmanagedType.U1)]
    internal static partial bool llama_model_has_encoder(SafeLlamaModelHandle model);

    [LibraryImport(LlamaLibrary.Llama)]
    [return: MarshalAs(UnmanagedType.U1)]
    internal static partial bool llama_model_has_decoder(SafeLlamaModelHandle model);

    [LibraryImport(LlamaLibrary.Llama)]
    [return: MarshalAs(UnmanagedType.U1)]
    internal static partial bool llama_model_is_recurrent(SafeLlamaModelHandle model);
}
