using Maas.Core.Formats.Gguf;

namespace Maas.Runtimes.Llama;

/// <summary>Parameters of a llama.cpp context (<c>llama_context_params</c>); null keeps llama.cpp's default.</summary>
public sealed record LlamaContextOptions
{
    /// <summary>Total KV cache size in tokens across all sequences (n_ctx); 0 takes the model's training context.</summary>
    public uint? ContextSize { get; init; }

    /// <summary>Most tokens one llama_decode call may take (n_batch).</summary>
    public uint? BatchSize { get; init; }

    /// <summary>Tokens computed per graph evaluation (n_ubatch, at most <see cref="BatchSize"/>).</summary>
    public uint? MicroBatchSize { get; init; }

    /// <summary>Most distinct sequences (parallel slots) the context holds (n_seq_max).</summary>
    public uint? SequenceCount { get; init; }

    /// <summary>Threads for single-token generation (default: one per core).</summary>
    public int? Threads { get; init; }

    /// <summary>Threads for prompt and batch processing (defaults to <see cref="Threads"/> when only that is set).</summary>
    public int? BatchThreads { get; init; }

    /// <summary>
    /// Run computations on a persistent ggml thread pool owned by the context (default: on), as llama-server does;
    /// off, ggml starts and joins its worker threads for every graph computation.
    /// </summary>
    public bool? ThreadPool { get; init; }

    /// <summary>
    /// How long the pool's idle workers busy-wait for the next computation before sleeping, 0 (sleep at once) to 100;
    /// null keeps ggml's default (50, which spins for tens of milliseconds: a core stays busy between decodes).
    /// </summary>
    public uint? ThreadPoolPolling { get; init; }

    /// <summary>Extract embeddings (as well as logits).</summary>
    public bool? Embeddings { get; init; }

    /// <summary>How embeddings are pooled per sequence.</summary>
    public LlamaPoolingType? PoolingType { get; init; }

    /// <summary>Causal or bidirectional attention (embedding models).</summary>
    public LlamaAttentionType? AttentionType { get; init; }

    /// <summary>Flash attention: auto, on or off.</summary>
    public LlamaFlashAttention? FlashAttention { get; init; }

    /// <summary>Element type of the K cache (F16 by default; Q8_0 halves its memory).</summary>
    public GgmlType? KeyCacheType { get; init; }

    /// <summary>Element type of the V cache (quantised V needs flash attention).</summary>
    public GgmlType? ValueCacheType { get; init; }

    /// <summary>Keep the KV cache on the GPU with offloaded layers.</summary>
    public bool? OffloadKqv { get; init; }

    /// <summary>One KV buffer shared by all sequences (good when they share a long prefix) instead of one per sequence.</summary>
    public bool? UnifiedKvCache { get; init; }

    /// <summary>Full-size sliding-window cache.</summary>
    public bool? SwaFull { get; init; }

    /// <summary>RoPE base frequency override (0: from the model).</summary>
    public float? RopeFrequencyBase { get; init; }

    /// <summary>RoPE frequency scale override (0: from the model).</summary>
    public float? RopeFrequencyScale { get; init; }

    /// <summary>Collect llama.cpp's performance counters (<see cref="LlamaContext.Performance"/>).</summary>
    public bool MeasurePerformance { get; init; }

    /// <summary>ggml's eval callback (<c>cb_eval</c>), set by the binding's own collectors (importance matrix).</summary>
    internal IntPtr EvalCallback { get; init; }

    /// <summary>The callback's user data (<c>cb_eval_user_data</c>).</summary>
    internal IntPtr EvalCallbackData { get; init; }
}
