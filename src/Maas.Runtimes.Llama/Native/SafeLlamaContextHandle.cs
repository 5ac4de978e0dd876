using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Maas.Runtimes.Llama.Native;

/// <summary>Owns a <c>llama_context</c>; keeps its model alive and routes llama's abort callback to a cancellation token.</summary>
internal sealed unsafe class SafeLlamaContextHandle : SafeHandleZeroOrMinusOneIsInvalid
{
    private SafeLlamaModelHandle? model;
    private bool modelAdded;
    private GCHandle abortState;
    private SafeGgmlThreadpoolHandle? threadpool;
    private SafeGgmlThreadpoolHandle? batchThreadpool;
    private bool threadpoolAdded;
    private bool batchThreadpoolAdded;

    public SafeLlamaContextHandle()
        : base(ownsHandle: true)
    {
    }

    /// <summary>Creates a context; null when llama.cpp refused the parameters (the reason is in its log).</summary>
    public static SafeLlamaContextHandle? Create(SafeLlamaModelHandle model, LlamaContextParams parameters)
    {
        var state = new AbortState();
        var stateHandle = GCHandle.Alloc(state);
        // No callback until a decode can be cancelled (AbortToken): ggml calls it after every graph node from the
        // computing thread, and each call enters managed code, where a garbage collection in progress stalls it.
        parameters.AbortCallback = IntPtr.Zero;
        parameters.AbortCallbackData = IntPtr.Zero;

        var raw = NativeApi.llama_init_from_model(model, parameters);
        if (raw == IntPtr.Zero)
        {
            stateHandle.Free();
            return null;
        }

        var context = new SafeLlamaContextHandle { abortState = stateHandle };
        context.SetHandle(raw);

        // The context reads the model's weights: the model must outlive it, whatever order callers dispose in.
        model.DangerousAddRef(ref context.modelAdded);
        context.model = model;
        return context;
    }

    /// <summary>The token a running decode checks between graph nodes; a cancelled token aborts the decode.</summary>
    /// <remarks>The native callback is installed only while the token can be cancelled.</remarks>
    public CancellationToken AbortToken
    {
        set
        {
            var state = (AbortState)abortState.Target!;
            state.Token = value;
            if (value.CanBeCanceled != state.Installed)
            {
                if (value.CanBeCanceled)
                {
                    NativeApi.llama_set_abort_callback(this, &OnAbort, GCHandle.ToIntPtr(abortState));
                }
                else
                {
                    NativeApi.llama_set_abort_callback(this, null, IntPtr.Zero);
                }

                state.Installed = value.CanBeCanceled;
            }
        }
    }

    /// <summary>Runs this context's computations on <paramref name="pool"/> (and batches on <paramref name="batchPool"/>, else the same pool).</summary>
    /// <remarks>Once per context. The context holds a reference to each pool, so the pools outlive it whatever order they are disposed in.</remarks>
    public void AttachThreadpool(SafeGgmlThreadpoolHandle pool, SafeGgmlThreadpoolHandle? batchPool)
    {
        if (threadpool is not null)
        {
            throw new InvalidOperationException("a thread pool is already attached to this context");
        }

        pool.DangerousAddRef(ref threadpoolAdded);
        threadpool = pool;
        if (batchPool is not null)
        {
            batchPool.DangerousAddRef(ref batchThreadpoolAdded);
            batchThreadpool = batchPool;
        }

        NativeApi.llama_attach_threadpool(this, pool.DangerousGetHandle(), batchPool?.DangerousGetHandle() ?? IntPtr.Zero);
    }

    public int Decode(SafeLlamaBatchHandle batch)
    {
        using var lease = new SafeHandleLease(batch);
        return NativeApi.llama_decode(this, batch.Batch);
    }

    public int Encode(SafeLlamaBatchHandle batch)
    {
        using var lease = new SafeHandleLease(batch);
        return NativeApi.llama_encode(this, batch.Batch);
    }

    /// <summary>The logits row of batch entry <paramref name="index"/>; valid until the next decode. Empty when the entry had no output.</summary>
    public ReadOnlySpan<float> Logits(int index, int vocabularySize)
    {
        var p = NativeApi.llama_get_logits_ith(this, index);
        return p == null ? default : new ReadOnlySpan<float>(p, vocabularySize);
    }

    /// <summary>The embedding of batch entry <paramref name="index"/>; empty when there is none.</summary>
    public ReadOnlySpan<float> TokenEmbeddings(int index, int length)
    {
        var p = NativeApi.llama_get_embeddings_ith(this, index);
        return p == null ? default : new ReadOnlySpan<float>(p, length);
    }

    /// <summary>The pooled embedding of a sequence; empty without pooling.</summary>
    public ReadOnlySpan<float> SequenceEmbeddings(int sequence, int length)
    {
        var p = NativeApi.llama_get_embeddings_seq(this, sequence);
        return p == null ? default : new ReadOnlySpan<float>(p, length);
    }

    // --- memory (KV cache): the memory object belongs to the context ---

    public void MemoryClear(bool data)
    {
        using var lease = new SafeHandleLease(this);
        NativeApi.llama_memory_clear(NativeApi.llama_get_memory(this), data);
    }

    public bool MemoryRemove(int sequence, int p0, int p1)
    {
        using var lease = new SafeHandleLease(this);
        return NativeApi.llama_memory_seq_rm(NativeApi.llama_get_memory(this), sequence, p0, p1);
    }

    public void MemoryCopy(int source, int destination, int p0, int p1)
    {
        using var lease = new SafeHandleLease(this);
        NativeApi.llama_memory_seq_cp(NativeApi.llama_get_memory(this), source, destination, p0, p1);
    }

    public void MemoryKeep(int sequence)
    {
        using var lease = new SafeHandleLease(this);
        NativeApi.llama_memory_seq_keep(NativeApi.llama_get_memory(this), sequence);
    }

    public void MemoryAdd(int sequence, int p0, int p1, int delta)
    {
        using var lease = new SafeHandleLease(this);
        NativeApi.llama_memory_seq_add(NativeApi.llama_get_memory(this), sequence, p0, p1, delta);
    }

    public void MemoryDivide(int sequence, int p0, int p1, int divisor)
    {
        using var lease = new SafeHandleLease(this);
        NativeApi.llama_memory_seq_div(NativeApi.llama_get_memory(this), sequence, p0, p1, divisor);
    }

    public (int Min, int Max) MemoryPositions(int sequence)
    {
        using var lease = new SafeHandleLease(this);
        var memory = NativeApi.llama_get_memory(this);
        return (NativeApi.llama_memory_seq_pos_min(memory, sequence), NativeApi.llama_memory_seq_pos_max(memory, sequence));
    }

    public bool MemoryCanShift()
    {
        using var lease = new SafeHandleLease(this);
        return NativeApi.llama_memory_can_shift(NativeApi.llama_get_memory(this));
    }

    // --- state ---

    public long StateSize() => (long)NativeApi.llama_state_get_size(this);

    public long GetState(Span<byte> destination)
    {
        fixed (byte* p = destination)
        {
            return (long)NativeApi.llama_state_get_data(this, p, (nuint)destination.Length);
        }
    }

    public long SetState(ReadOnlySpan<byte> source)
    {
        fixed (byte* p = source)
        {
            return (long)NativeApi.llama_state_set_data(this, p, (nuint)source.Length);
        }
    }

    public long SequenceStateSize(int sequence) => (long)NativeApi.llama_state_seq_get_size(this, sequence);

    public long GetSequenceState(int sequence, Span<byte> destination)
    {
        fixed (byte* p = destination)
        {
            return (long)NativeApi.llama_state_seq_get_data(this, p, (nuint)destination.Length, sequence);
        }
    }

    public long SetSequenceState(int sequence, ReadOnlySpan<byte> source)
    {
        fixed (byte* p = source)
        {
            return (long)NativeApi.llama_state_seq_set_data(this, p, (nuint)source.Length, sequence);
        }
    }

    protected override bool ReleaseHandle()
    {
        if (threadpoolAdded)
        {
            NativeApi.llama_detach_threadpool(handle);
        }

        NativeApi.llama_free(handle);

        // The pools may be freed only now that no context computes on them.
        if (batchThreadpoolAdded)
        {
            batchThreadpool!.DangerousRelease();
        }

        if (threadpoolAdded)
        {
            threadpool!.DangerousRelease();
        }

        if (abortState.IsAllocated)
        {
            abortState.Free();
        }

        if (modelAdded)
        {
            model!.DangerousRelease();
        }

        return true;
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static byte OnAbort(IntPtr data)
    {
        try
        {
            return GCHandle.FromIntPtr(data).Target is AbortState { Token.IsCancellationRequested: true } ? (byte)1 : (byte)0;
        }
        catch
        {
            return 0; // an exception must never unwind into native code
        }
    }

    private sealed class AbortState
    {
        public CancellationToken Token { get; set; }

        public bool Installed { get; set; }
    }
}
