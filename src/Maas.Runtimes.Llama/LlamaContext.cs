using Maas.Core.Formats.Gguf;
using Maas.Runtimes.Llama.Native;

namespace Maas.Runtimes.Llama;

/// <summary>A llama.cpp context: the KV cache of up to <see cref="SequenceCount"/> sequences and the compute buffers to decode batches.</summary>
/// <remarks>Not thread-safe: one engine loop owns a context. Logit and embedding spans stay valid until the next decode.</remarks>
public sealed class LlamaContext : IDisposable
{
    private SafeGgmlThreadpoolHandle? threadPool;
    private SafeGgmlThreadpoolHandle? batchThreadPool;

    internal LlamaContext(LlamaModel model, LlamaContextOptions options)
    {
        Model = model;
        var p = NativeApi.llama_context_default_params();
        p.NCtx = options.ContextSize ?? p.NCtx;
        p.NBatch = options.BatchSize ?? p.NBatch;
        p.NUbatch = options.MicroBatchSize ?? Math.Min(p.NUbatch, p.NBatch);
        p.NSeqMax = options.SequenceCount ?? p.NSeqMax;
        // llama.cpp's own default is a fixed 4 threads; one per core is what a server on this machine wants.
        p.NThreads = options.Threads ?? Environment.ProcessorCount;
        p.NThreadsBatch = options.BatchThreads ?? options.Threads ?? Environment.ProcessorCount;
        p.PoolingType = options.PoolingType ?? p.PoolingType;
        p.AttentionType = options.AttentionType ?? p.AttentionType;
        p.FlashAttnType = options.FlashAttention ?? p.FlashAttnType;
        p.TypeK = (uint?)options.KeyCacheType ?? p.TypeK;
        p.TypeV = (uint?)options.ValueCacheType ?? p.TypeV;
        p.RopeFreqBase = options.RopeFrequencyBase ?? p.RopeFreqBase;
        p.RopeFreqScale = options.RopeFrequencyScale ?? p.RopeFreqScale;
        p.Embeddings = Flag(options.Embeddings, p.Embeddings);
        p.OffloadKqv = Flag(options.OffloadKqv, p.OffloadKqv);
        p.KvUnified = Flag(options.UnifiedKvCache, p.KvUnified);
        p.SwaFull = Flag(options.SwaFull, p.SwaFull);
        p.NoPerf = options.MeasurePerformance ? (byte)0 : (byte)1;
        p.CbEval = options.EvalCallback;
        p.CbEvalUserData = options.EvalCallbackData;

        var maxSequences = NativeApi.llama_max_parallel_sequences();
        if (p.NSeqMax == 0 || p.NSeqMax > maxSequences)
        {
            throw new ArgumentOutOfRangeException(nameof(options), p.NSeqMax, $"SequenceCount must be 1 to {maxSequences}");
        }

        if (options.ThreadPoolPolling > 100)
        {
            throw new ArgumentOutOfRangeException(nameof(options), options.ThreadPoolPolling, "ThreadPoolPolling must be 0 to 100");
        }

        LlamaLogging.BeginCapture();
        Handle = SafeLlamaContextHandle.Create(model.Handle, p)
            ?? throw new LlamaException(
                $"llama_init_from_model failed for '{model.Path}' with n_ctx={p.NCtx}, n_batch={p.NBatch}, n_ubatch={p.NUbatch}, " +
                $"n_seq_max={p.NSeqMax}, type_k={(GgmlType)p.TypeK}, type_v={(GgmlType)p.TypeV}, flash_attn={p.FlashAttnType}, embeddings={p.Embeddings != 0}",
                LlamaLogging.TakeErrors());

        ContextSize = (int)NativeApi.llama_n_ctx(Handle);
        SequenceContextSize = (int)NativeApi.llama_n_ctx_seq(Handle);
        BatchSize = (int)NativeApi.llama_n_batch(Handle);
        MicroBatchSize = (int)NativeApi.llama_n_ubatch(Handle);
        SequenceCount = (int)NativeApi.llama_n_seq_max(Handle);
        PoolingType = NativeApi.llama_pooling_type(Handle);
        EmbeddingsEnabled = p.Embeddings != 0;
        UnifiedKvCache = p.KvUnified != 0;
        Memory = new LlamaMemory(this);
        if (options.ThreadPool ?? true)
        {
            AttachThreadPools((int)p.NThreads, (int)p.NThreadsBatch, options.ThreadPoolPolling ?? 50);
        }
    }

    /// <summary>The model this context runs.</summary>
    public LlamaModel Model { get; }

    /// <summary>KV cache size in tokens (llama_n_ctx; llama.cpp may round the request).</summary>
    public int ContextSize { get; }

    /// <summary>Tokens one sequence may hold (llama_n_ctx_seq).</summary>
    public int SequenceContextSize { get; }

    /// <summary>Most tokens one decode takes.</summary>
    public int BatchSize { get; }

    /// <summary>Tokens per graph evaluation.</summary>
    public int MicroBatchSize { get; }

    /// <summary>Number of sequence ids (0 to SequenceCount-1).</summary>
    public int SequenceCount { get; }

    /// <summary>The pooling the context applies to embeddings.</summary>
    public LlamaPoolingType PoolingType { get; }

    /// <summary>Whether embeddings are extracted.</summary>
    public bool EmbeddingsEnabled { get; private set; }

    /// <summary>Threads for generation.</summary>
    public int Threads => NativeApi.llama_n_threads(Handle);

    /// <summary>Threads for batches.</summary>
    public int BatchThreads => NativeApi.llama_n_threads_batch(Handle);

    /// <summary>True when the context computes on its own persistent ggml thread pool(s) (see <see cref="LlamaContextOptions.ThreadPool"/>).</summary>
    public bool HasThreadPool => threadPool is not null;

    /// <summary>The KV cache, edited per sequence.</summary>
    public LlamaMemory Memory { get; }

    /// <summary>True when all sequences share one KV buffer; false when each has its own (llama.cpp's default).</summary>
    public bool UnifiedKvCache { get; }

    internal SafeLlamaContextHandle Handle { get; }

    /// <summary>Decodes a batch; throws on failure.</summary>
    /// <exception cref="OperationCanceledException">The token was cancelled; tokens of already computed micro-batches stay in the memory.</exception>
    /// <exception cref="LlamaDecodeException">llama.cpp refused the batch or found no KV slot; the message says which.</exception>
    public void Decode(LlamaBatch batch, CancellationToken cancellationToken = default)
    {
        var status = TryDecode(batch, cancellationToken);
        if (status != 0)
        {
            cancellationToken.ThrowIfCancellationRequested();
            throw DecodeError("llama_decode", batch, status);
        }
    }

    /// <summary>Decodes a batch; returns llama.cpp's status (0 ok, 1 no KV slot, 2 aborted, negative invalid/fatal) instead of throwing.</summary>
    public int TryDecode(LlamaBatch batch, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(batch);
        if (batch.Count == 0)
        {
            throw new ArgumentException("the batch is empty", nameof(batch));
        }

        if (batch.Count > BatchSize)
        {
            throw new ArgumentException($"the batch holds {batch.Count} tokens but this context decodes at most {BatchSize} at once (BatchSize)", nameof(batch));
        }

        Handle.AbortToken = cancellationToken;
        LlamaLogging.BeginCapture();
        try
        {
            return Handle.Decode(batch.Handle);
        }
        finally
        {
            Handle.AbortToken = CancellationToken.None;
        }
    }

    /// <summary>Runs the encoder on a batch (encoder-decoder and embedding models; no KV cache).</summary>
    public void Encode(LlamaBatch batch, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(batch);
        Handle.AbortToken = cancellationToken;
        LlamaLogging.BeginCapture();
        int status;
        try
        {
            status = Handle.Encode(batch.Handle);
        }
        finally
        {
            Handle.AbortToken = CancellationToken.None;
        }

        if (status != 0)
        {
            cancellationToken.ThrowIfCancellationRequested();
            throw DecodeError("llama_encode", batch, status);
        }
    }

    /// <summary>The logits (one per vocabulary token) of batch entry <paramref name="batchIndex"/> of the last decode (-1: the last output).</summary>
    /// <remarks>The span points into llama.cpp's buffer: read it before the next decode.</remarks>
    public ReadOnlySpan<float> GetLogits(int batchIndex = -1)
    {
        var logits = Handle.Logits(batchIndex, Model.VocabularySize);
        if (logits.IsEmpty)
        {
            throw new ArgumentException(
                $"batch entry {batchIndex} has no logits: it was not marked as output in the last decode, or the index is out of range",
                nameof(batchIndex));
        }

        return logits;
    }

    /// <summary>The embedding of batch entry <paramref name="batchIndex"/> (per token; needs <see cref="LlamaContextOptions.Embeddings"/>).</summary>
    public float[] GetTokenEmbeddings(int batchIndex = -1)
    {
        var values = Handle.TokenEmbeddings(batchIndex, Model.EmbeddingLength);
        if (values.IsEmpty)
        {
            throw new InvalidOperationException(
                $"batch entry {batchIndex} has no embedding: enable Embeddings on the context and mark the entry as output");
        }

        return values.ToArray();
    }

    /// <summary>The pooled embedding of <paramref name="sequence"/> after the last decode (needs embeddings and a pooling type other than None).</summary>
    public float[] GetSequenceEmbeddings(int sequence)
    {
        var length = PoolingType == LlamaPoolingType.Rank ? 1 : Model.EmbeddingLength;
        var values = Handle.SequenceEmbeddings(sequence, length);
        if (values.IsEmpty)
        {
            throw new InvalidOperationException(
                $"no pooled embedding for sequence {sequence}: the context needs Embeddings on and a pooling type (it has {PoolingType})");
        }

        return values.ToArray();
    }

    /// <summary>Switches embedding extraction on or off for later decodes.</summary>
    public void SetEmbeddings(bool enabled)
    {
        NativeApi.llama_set_embeddings(Handle, enabled);
        EmbeddingsEnabled = enabled;
    }

    /// <summary>Switches causal attention (off for bidirectional embedding passes).</summary>
    public void SetCausalAttention(bool causal) => NativeApi.llama_set_causal_attn(Handle, causal);

    /// <summary>Sets the threads for generation and for batches.</summary>
    /// <remarks>With a thread pool attached, counts above the pool's size are capped to it.</remarks>
    public void SetThreads(int threads, int batchThreads)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(threads, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(batchThreads, 1);
        NativeApi.llama_set_n_threads(Handle, threads, batchThreads);
    }

    /// <summary>Bytes the state of one sequence (its KV cells) takes.</summary>
    public long GetSequenceStateSize(int sequence)
    {
        CheckSequence(sequence);
        return Handle.SequenceStateSize(sequence);
    }

    /// <summary>Copies the state of one sequence out (to restore it later, in this or another context of the same model).</summary>
    /// <remarks>The buffer is not zeroed first: llama.cpp writes every byte, and a prompt's state runs to megabytes.</remarks>
    public byte[] SaveSequenceState(int sequence)
    {
        var buffer = GC.AllocateUninitializedArray<byte>(checked((int)GetSequenceStateSize(sequence)));
        SaveSequenceState(sequence, buffer);
        return buffer;
    }

    /// <summary>
    /// Copies the state of one sequence into <paramref name="destination"/>, exactly its size
    /// (<see cref="GetSequenceStateSize"/>): a buffer the caller reuses rather than one allocated per save.
    /// </summary>
    public void SaveSequenceState(int sequence, Span<byte> destination)
    {
        CheckSequence(sequence);
        var written = Handle.GetSequenceState(sequence, destination);
        if (written != destination.Length)
        {
            throw new LlamaException($"llama_state_seq_get_data(seq {sequence}) wrote {written} of {destination.Length} bytes", LlamaLogging.TakeErrors());
        }
    }

    /// <summary>Restores a saved sequence state into <paramref name="sequence"/> (which should be empty).</summary>
    /// <remarks>The target context must have the same model and KV layout (sequence count and unified setting) as the source.</remarks>
    public void LoadSequenceState(int sequence, ReadOnlySpan<byte> state)
    {
        CheckSequence(sequence);
        LlamaLogging.BeginCapture();
        if (Handle.SetSequenceState(sequence, state) == 0)
        {
            throw new LlamaException(
                $"llama_state_seq_set_data(seq {sequence}, {state.Length} bytes) failed: the data is not a sequence state of this model or does not fit",
                LlamaLogging.TakeErrors());
        }
    }

    /// <summary>Copies the whole context state (all sequences, last logits) out.</summary>
    public byte[] SaveState()
    {
        var buffer = new byte[Handle.StateSize()];
        var written = Handle.GetState(buffer);
        return written == buffer.Length ? buffer : buffer[..(int)written];
    }

    /// <summary>Restores a whole context state saved by <see cref="SaveState"/>.</summary>
    public void LoadState(ReadOnlySpan<byte> state)
    {
        LlamaLogging.BeginCapture();
        if (Handle.SetState(state) == 0)
        {
            throw new LlamaException($"llama_state_set_data({state.Length} bytes) failed", LlamaLogging.TakeErrors());
        }
    }

    /// <summary>llama.cpp's timing counters (needs <see cref="LlamaContextOptions.MeasurePerformance"/>).</summary>
    public LlamaPerformance Performance
    {
        get
        {
            var d = NativeApi.llama_perf_context(Handle);
            return new LlamaPerformance(
                TimeSpan.FromMilliseconds(d.TLoadMs), TimeSpan.FromMilliseconds(d.TPEvalMs), TimeSpan.FromMilliseconds(d.TEvalMs),
                d.NPEval, d.NEval, d.NReused);
        }
    }

    /// <summary>Zeroes the timing counters.</summary>
    public void ResetPerformance() => NativeApi.llama_perf_context_reset(Handle);

    /// <inheritdoc />
    public void Dispose()
    {
        // The context holds references to its pools: they are freed after it, whichever handle goes first.
        Handle.Dispose();
        batchThreadPool?.Dispose();
        threadPool?.Dispose();
    }

    // As llama.cpp's own tools do: one pool when generation and batches use the same thread count, else a batch pool
    // and a generation pool that starts paused (ggml wakes a pool when a computation needs it).
    private void AttachThreadPools(int threads, int batchThreads, uint polling)
    {
        SafeGgmlThreadpoolHandle? batchPool = null;
        SafeGgmlThreadpoolHandle? pool = null;
        try
        {
            if (batchThreads != threads)
            {
                batchPool = SafeGgmlThreadpoolHandle.Create(batchThreads, poll: polling);
                if (batchPool is null)
                {
                    return; // no CPU backend pools (or refused): ggml starts threads per computation, as before
                }
            }

            pool = SafeGgmlThreadpoolHandle.Create(threads, paused: batchPool is not null, poll: polling);
            if (pool is null)
            {
                batchPool?.Dispose();
                return;
            }

            Handle.AttachThreadpool(pool, batchPool);
            threadPool = pool;
            batchThreadPool = batchPool;
        }
        catch
        {
            pool?.Dispose();
            batchPool?.Dispose();
            Handle.Dispose();
            throw;
        }
    }

    private static byte Flag(bool? value, byte fallback) => value is null ? fallback : value.Value ? (byte)1 : (byte)0;

    private void CheckSequence(int sequence)
    {
        if ((uint)sequence >= (uint)SequenceCount)
        {
            throw new ArgumentOutOfRangeException(nameof(sequence), sequence, $"sequence ids of this context are 0 to {SequenceCount - 1}");
        }
    }

    private LlamaDecodeException DecodeError(string call, LlamaBatch batch, int status)
    {
        var meaning = status switch
        {
            1 => "no KV cache slot for the batch: the context is full (free sequences, or use a larger ContextSize)",
            2 => "aborted",
            -1 => "invalid batch (a token id outside the vocabulary, a sequence id outside the context, or positions that do not continue the sequence)",
            _ => "fatal error",
        };
        return new LlamaDecodeException(
            $"{call} failed with status {status} ({meaning}) on a batch of {batch.Count} tokens with {batch.OutputCount} outputs",
            status,
            LlamaLogging.TakeErrors());
    }
}
