using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;
using Microsoft.Win32.SafeHandles;

namespace Maas.Runtimes.Llama.Native;

/// <summary>Owns a <c>llama_model</c>; also hands out the model's vocabulary, which lives as long as the model.</summary>
internal sealed unsafe class SafeLlamaModelHandle : SafeHandleZeroOrMinusOneIsInvalid
{
    private IntPtr vocab;

    public SafeLlamaModelHandle()
        : base(ownsHandle: true)
    {
    }

    /// <summary>Loads a model; null when llama.cpp refused it (the reason is in its log) or <paramref name="progress"/> stopped it.</summary>
    public static SafeLlamaModelHandle? Load(string path, LlamaModelParams parameters, LoadProgress progress)
    {
        var progressHandle = GCHandle.Alloc(progress);
        parameters.ProgressCallback = (IntPtr)(delegate* unmanaged[Cdecl]<float, IntPtr, byte>)&OnProgress;
        parameters.ProgressCallbackUserData = GCHandle.ToIntPtr(progressHandle);
        IntPtr raw;
        try
        {
            raw = NativeApi.llama_model_load_from_file(path, parameters);
        }
        finally
        {
            progressHandle.Free();
        }

        if (raw == IntPtr.Zero)
        {
            return null;
        }

        var model = new SafeLlamaModelHandle();
        model.SetHandle(raw);
        model.vocab = NativeApi.llama_model_get_vocab(model);
        return model;
    }

    public string Description()
    {
        var buffer = stackalloc byte[256];
        var n = NativeApi.llama_model_desc(this, buffer, 256);
        return n <= 0 ? string.Empty : Encoding.UTF8.GetString(buffer, Math.Min(n, 255));
    }

    public string? MetaValue(string key) => ReadString((b, size) => NativeApi.llama_model_meta_val_str(this, key, b, size));

    public List<KeyValuePair<string, string>> Metadata()
    {
        var count = NativeApi.llama_model_meta_count(this);
        var result = new List<KeyValuePair<string, string>>(Math.Max(count, 0));
        for (var i = 0; i < count; i++)
        {
            var key = ReadString((b, size) => NativeApi.llama_model_meta_key_by_index(this, i, b, size));
            var value = ReadString((b, size) => NativeApi.llama_model_meta_val_str_by_index(this, i, b, size));
            if (key is not null)
            {
                result.Add(new(key, value ?? string.Empty));
            }
        }

        return result;
    }

    public string? ChatTemplate(string? name) => NativeApi.Utf8(NativeApi.llama_model_chat_template(this, name));

    public string FileTypeName(LlamaFileType type) => NativeApi.Utf8(NativeApi.llama_ftype_name(type)) ?? type.ToString();

    // --- vocabulary: the pointer is only valid while the model lives, so every use holds a lease on it ---

    public LlamaVocabularyType VocabType()
    {
        using var lease = new SafeHandleLease(this);
        return NativeApi.llama_vocab_type(vocab);
    }

    public int VocabSize()
    {
        using var lease = new SafeHandleLease(this);
        return NativeApi.llama_vocab_n_tokens(vocab);
    }

    public string? TokenText(int token)
    {
        using var lease = new SafeHandleLease(this);
        return NativeApi.Utf8(NativeApi.llama_vocab_get_text(vocab, token));
    }

    public float TokenScore(int token)
    {
        using var lease = new SafeHandleLease(this);
        return NativeApi.llama_vocab_get_score(vocab, token);
    }

    public LlamaTokenAttributes TokenAttributes(int token)
    {
        using var lease = new SafeHandleLease(this);
        return NativeApi.llama_vocab_get_attr(vocab, token);
    }

    public bool IsEndOfGeneration(int token)
    {
        using var lease = new SafeHandleLease(this);
        return NativeApi.llama_vocab_is_eog(vocab, token);
    }

    public bool IsControl(int token)
    {
        using var lease = new SafeHandleLease(this);
        return NativeApi.llama_vocab_is_control(vocab, token);
    }

    /// <summary>The special token ids: bos, eos, eot, sep, nl, pad (-1 when the model has none).</summary>
    public (int Bos, int Eos, int Eot, int Sep, int Nl, int Pad) SpecialTokens()
    {
        using var lease = new SafeHandleLease(this);
        return (NativeApi.llama_vocab_bos(vocab), NativeApi.llama_vocab_eos(vocab), NativeApi.llama_vocab_eot(vocab),
            NativeApi.llama_vocab_sep(vocab), NativeApi.llama_vocab_nl(vocab), NativeApi.llama_vocab_pad(vocab));
    }

    public (bool Bos, bool Eos) AddsSpecialTokens()
    {
        using var lease = new SafeHandleLease(this);
        return (NativeApi.llama_vocab_get_add_bos(vocab), NativeApi.llama_vocab_get_add_eos(vocab));
    }

    /// <summary>llama_tokenize: the token count, or minus the count needed when <paramref name="tokens"/> is too small.</summary>
    public int Tokenize(ReadOnlySpan<byte> utf8, Span<int> tokens, bool addSpecial, bool parseSpecial)
    {
        using var lease = new SafeHandleLease(this);
        fixed (byte* text = utf8)
        fixed (int* output = tokens)
        {
            return NativeApi.llama_tokenize(vocab, text, utf8.Length, output, tokens.Length, addSpecial, parseSpecial);
        }
    }

    /// <summary>llama_token_to_piece: bytes written, or minus the bytes needed.</summary>
    public int TokenToPiece(int token, Span<byte> buffer, int leftStrip, bool special)
    {
        using var lease = new SafeHandleLease(this);
        fixed (byte* output = buffer)
        {
            return NativeApi.llama_token_to_piece(vocab, token, output, buffer.Length, leftStrip, special);
        }
    }

    /// <summary>llama_detokenize: bytes written, or minus the bytes needed.</summary>
    public int Detokenize(ReadOnlySpan<int> tokens, Span<byte> buffer, bool removeSpecial, bool unparseSpecial)
    {
        using var lease = new SafeHandleLease(this);
        fixed (int* input = tokens)
        fixed (byte* output = buffer)
        {
            return NativeApi.llama_detokenize(vocab, input, tokens.Length, output, buffer.Length, removeSpecial, unparseSpecial);
        }
    }

    /// <summary>A grammar sampler for this model's vocabulary (zero when the grammar does not parse).</summary>
    public IntPtr InitGrammar(string grammar, string root)
    {
        using var lease = new SafeHandleLease(this);
        return NativeApi.llama_sampler_init_grammar(vocab, grammar, root);
    }

    /// <summary>A lazy grammar sampler for this model's vocabulary.</summary>
    public IntPtr InitLazyGrammar(string grammar, string root, IReadOnlyList<string> patterns, ReadOnlySpan<int> tokens)
    {
        using var lease = new SafeHandleLease(this);
        return NativeApi.InitLazyGrammar(vocab, grammar, root, patterns, tokens);
    }

    protected override bool ReleaseHandle()
    {
        NativeApi.llama_model_free(handle);
        return true;
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static byte OnProgress(float value, IntPtr userData)
    {
        var state = GCHandle.FromIntPtr(userData).Target as LoadProgress;
        try
        {
            if (state is null || state.Token.IsCancellationRequested || (state.Callback is { } callback && !callback(value)))
            {
                state?.Aborted = true;
                return 0;
            }

            return 1;
        }
        catch (Exception ex)
        {
            // Stop the load rather than let an exception unwind into native code; the caller reports it.
            state?.Error = ex;
            return 0;
        }
    }

    // llama's string getters return the full length (without NUL) and truncate to the buffer: retry once with the right size.
    private static string? ReadString(ReadInto read)
    {
        Span<byte> small = stackalloc byte[256];
        fixed (byte* p = small)
        {
            var n = read(p, (nuint)small.Length);
            if (n < 0)
            {
                return null;
            }

            if (n < small.Length)
            {
                return Encoding.UTF8.GetString(small[..n]);
            }

            var large = new byte[n + 1];
            fixed (byte* q = large)
            {
                n = read(q, (nuint)large.Length);
            }

            return n < 0 ? null : Encoding.UTF8.GetString(large, 0, Math.Min(n, large.Length - 1));
        }
    }

    private delegate int ReadInto(byte* buffer, nuint size);
}
