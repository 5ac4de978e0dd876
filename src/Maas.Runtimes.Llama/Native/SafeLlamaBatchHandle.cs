using Microsoft.Win32.SafeHandles;

namespace Maas.Runtimes.Llama.Native;

/// <summary>Owns the arrays of a <c>llama_batch</c> made by llama_batch_init, and fills them.</summary>
internal sealed unsafe class SafeLlamaBatchHandle : SafeHandleZeroOrMinusOneIsInvalid
{
    private LlamaNativeBatch batch;

    public SafeLlamaBatchHandle()
        : base(ownsHandle: true)
    {
    }

    public int Capacity { get; private set; }

    public int MaxSequencesPerToken { get; private set; }

    /// <summary>The struct llama_decode takes by value; its arrays stay valid while this handle lives.</summary>
    public LlamaNativeBatch Batch => batch;

    public static SafeLlamaBatchHandle Create(int capacity, int maxSequencesPerToken)
    {
        var native = NativeApi.llama_batch_init(capacity, 0, maxSequencesPerToken);
        if (native.Token == null)
        {
            throw new OutOfMemoryException($"llama_batch_init({capacity}, 0, {maxSequencesPerToken}) returned no token array");
        }

        var handle = new SafeLlamaBatchHandle { batch = native, Capacity = capacity, MaxSequencesPerToken = maxSequencesPerToken };
        handle.SetHandle((IntPtr)native.Token);
        return handle;
    }

    public int Count
    {
        get => batch.NTokens;
        set => batch.NTokens = value;
    }

    public void Set(int index, int token, int position, ReadOnlySpan<int> sequences, bool output)
    {
        using var lease = new SafeHandleLease(this);
        batch.Token[index] = token;
        batch.Pos[index] = position;
        batch.NSeqId[index] = sequences.Length;
        for (var s = 0; s < sequences.Length; s++)
        {
            batch.SeqId[index][s] = sequences[s];
        }

        batch.Logits[index] = output ? (sbyte)1 : (sbyte)0;
    }

    public void SetOutput(int index, bool output)
    {
        using var lease = new SafeHandleLease(this);
        batch.Logits[index] = output ? (sbyte)1 : (sbyte)0;
    }

    public bool GetOutput(int index)
    {
        using var lease = new SafeHandleLease(this);
        return batch.Logits[index] != 0;
    }

    public int GetToken(int index)
    {
        using var lease = new SafeHandleLease(this);
        return batch.Token[index];
    }

    public int GetPosition(int index)
    {
        using var lease = new SafeHandleLease(this);
        return batch.Pos[index];
    }

    protected override bool ReleaseHandle()
    {
        NativeApi.llama_batch_free(batch);
        return true;
    }
}
