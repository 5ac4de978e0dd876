using Microsoft.Win32.SafeHandles;

namespace Maas.Runtimes.Llama.Native;

/// <summary>Owns a <c>llama_sampler</c> (in MaaS always a chain; the chain owns the samplers added to it).</summary>
internal sealed unsafe class SafeLlamaSamplerHandle : SafeHandleZeroOrMinusOneIsInvalid
{
    public SafeLlamaSamplerHandle()
        : base(ownsHandle: true)
    {
    }

    public static SafeLlamaSamplerHandle CreateChain(bool noPerf)
    {
        var parameters = NativeApi.llama_sampler_chain_default_params();
        parameters.NoPerf = noPerf ? (byte)1 : (byte)0;
        return Wrap(NativeApi.llama_sampler_chain_init(parameters), "llama_sampler_chain_init");
    }

    public static SafeLlamaSamplerHandle Wrap(IntPtr raw, string what)
    {
        if (raw == IntPtr.Zero)
        {
            throw new LlamaException($"{what} returned no sampler");
        }

        var handle = new SafeLlamaSamplerHandle();
        handle.SetHandle(raw);
        return handle;
    }

    /// <summary>Hands <paramref name="sampler"/> (a fresh llama_sampler_init_* result) to the chain, which frees it later.</summary>
    public void Add(IntPtr sampler) => NativeApi.llama_sampler_chain_add(this, sampler);

    public int Count => NativeApi.llama_sampler_chain_n(this);

    public string? NameAt(int index)
    {
        using var lease = new SafeHandleLease(this);
        var sampler = NativeApi.llama_sampler_chain_get(this, index);
        return sampler == IntPtr.Zero ? null : NativeApi.Utf8(NativeApi.llama_sampler_name(sampler));
    }

    public SafeLlamaSamplerHandle Clone() => Wrap(NativeApi.llama_sampler_clone(this), "llama_sampler_clone");

    /// <summary>Runs the chain over <paramref name="candidates"/>; returns the surviving count, the selected index and whether they are sorted.</summary>
    public (int Size, long Selected, bool Sorted) Apply(Span<LlamaTokenData> candidates)
    {
        fixed (LlamaTokenData* data = candidates)
        {
            var array = new LlamaTokenDataArray { Data = data, Size = (nuint)candidates.Length, Selected = -1, Sorted = 0 };
            NativeApi.llama_sampler_apply(this, &array);
            var size = (int)Math.Min((long)array.Size, candidates.Length);

            // Samplers may point the array at their own buffer: bring the survivors back into the caller's span.
            if (array.Data != data)
            {
                new ReadOnlySpan<LlamaTokenData>(array.Data, size).CopyTo(candidates);
            }

            return (size, array.Selected, array.Sorted != 0);
        }
    }

    protected override bool ReleaseHandle()
    {
        NativeApi.llama_sampler_free(handle);
        return true;
    }
}
