using System.Runtime.InteropServices;
using Maas.Runtimes.Llama.Native.Load;

namespace Maas.Runtimes.Llama.Native;

internal static unsafe partial class NativeApi
{
    [LibraryImport(LlamaLibrary.Llama)]
    internal static partial LlamaSamplerChainParams llama_sampler_chain_default_params();

    [LibraryImport(LlamaLibrary.Llama)]
    internal static partial IntPtr llama_sampler_chain_init(LlamaSamplerChainParams parameters);

    [LibraryImport(LlamaLibrary.Llama)]
    internal static partial void llama_sampler_chain_add(SafeLlamaSamplerHandle chain, IntPtr sampler);

    [LibraryImport(LlamaLibrary.Llama)]
    internal static partial int llama_sampler_chain_n(SafeLlamaSamplerHandle chain);

    [LibraryImport(LlamaLibrary.Llama)]
    internal static partial IntPtr llama_sampler_chain_get(SafeLlamaSamplerHandle chain, int index);

    [LibraryImport(LlamaLibrary.Llama)]
    internal static partial byte* llama_sampler_name(IntPtr sampler);

    [LibraryImport(LlamaLibrary.Llama)]
    internal static partial void llama_sampler_free(IntPtr sampler);

    [LibraryImport(LlamaLibrary.Llama)]
    internal static partial IntPtr llama_sampler_clone(SafeLlamaSamplerHandle sampler);

    [LibraryImport(LlamaLibrary.Llama)]
    internal static partial void llama_sampler_accept(SafeLlamaSamplerHandle sampler, int token);

    [LibraryImport(LlamaLibrary.Llama)]
    internal static partial void llama_sampler_apply(SafeLlamaSamplerHandle sampler, LlamaTokenDataArray* candidates);

    [LibraryImport(LlamaLibrary.Llama)]
    internal static partial void llama_sampler_reset(SafeLlamaSamplerHandle sampler);

    [LibraryImport(LlamaLibrary.Llama)]
    internal static partial uint llama_sampler_get_seed(SafeLlamaSamplerHandle sampler);

    [LibraryImport(LlamaLibrary.Llama)]
    internal static partial int llama_sampler_sample(SafeLlamaSamplerHandle sampler, SafeLlamaContextHandle context, int index);

    [LibraryImport(LlamaLibrary.Llama)]
    internal static partial IntPtr llama_sampler_init_greedy();

    [LibraryImport(LlamaLibrary.Llama)]
    internal static partial IntPtr llama_sampler_init_dist(uint seed);

    [LibraryImport(LlamaLibrary.Llama)]
    internal static partial IntPtr llama_sampler_init_top_k(int k);

    [LibraryImport(LlamaLibrary.Llama)]
    internal static partial IntPtr llama_sampler_init_top_p(float p, nuint minKeep);

    [LibraryImport(LlamaLibrary.Llama)]
    internal static partial IntPtr llama_sampler_init_min_p(float p, nuint minKeep);

    [LibraryImport(LlamaLibrary.Llama)]
    internal static partial IntPtr llama_sampler_init_typical(float p, nuint minKeep);

    [LibraryImport(LlamaLibrary.Llama)]
    internal static partial IntPtr llama_sampler_init_temp(float temperature);

    [LibraryImport(LlamaLibrary.Llama)]
    internal static partial IntPtr llama_sampler_init_temp_ext(float temperature, float delta, float exponent);

    [LibraryImport(LlamaLibrary.Llama)]
    internal static partial IntPtr llama_sampler_init_top_n_sigma(float n);

    [LibraryImport(LlamaLibrary.Llama)]
    internal static partial IntPtr llama_sampler_init_mirostat_v2(uint seed, float tau, float eta);

    [LibraryImport(LlamaLibrary.Llama)]
    internal static partial IntPtr llama_sampler_init_penalties(int vocabularySize, int lastN, float repeat, float frequency, float presence);

    [LibraryImport(LlamaLibrary.Llama)]
    internal static partial IntPtr llama_sampler_init_logit_bias(int vocabularySize, int count, LlamaLogitBias* biases);

    [LibraryImport(LlamaLibrary.Llama, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial IntPtr llama_sampler_init_grammar(IntPtr vocab, string grammar, string root);

    [LibraryImport(LlamaLibrary.Llama, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial IntPtr llama_sampler_init_grammar_lazy_patterns(
        IntPtr vocab,
        string grammar,
        string root,
        byte** triggerPatterns,
        nuint patternCount,
        int* triggerTokens,
        nuint tokenCount);

    /// <summary>A logit-bias sampler over <paramref name="biases"/>.</summary>
    internal static IntPtr InitLogitBias(int vocabularySize, ReadOnlySpan<LlamaLogitBias> biases)
    {
        fixed (LlamaLogitBias* p = biases)
        {
            return llama_sampler_init_logit_bias(vocabularySize, biases.Length, p);
        }
    }

    /// <summary>A lazy grammar sampler that starts constraining after a trigger pattern or token.</summary>
    internal static IntPtr InitLazyGrammar(IntPtr vocab, string grammar, string root, IReadOnlyList<string> patterns, ReadOnlySpan<int> tokens)
    {
        var encoded = patterns.Select(p => System.Text.Encoding.UTF8.GetBytes(p + "\0")).ToArray();
        var handles = encoded.Select(b => GCHandle.Alloc(b, GCHandleType.Pinned)).ToArray();
        try
        {
            var pointers = stackalloc byte*[Math.Max(1, encoded.Length)];
            for (var i = 0; i < encoded.Length; i++)
            {
                pointers[i] = (byte*)handles[i].AddrOfPinnedObject();
            }

            fixed (int* t = tokens)
            {
                return llama_sampler_init_grammar_lazy_patterns(vocab, grammar, root, pointers, (nuint)encoded.Length, t, (nuint)tokens.Length);
            }
        }
        finally
        {
            foreach (var h in handles)
            {
                h.Free();
            }
        }
    }
}
