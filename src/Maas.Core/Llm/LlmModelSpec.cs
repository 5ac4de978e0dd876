namespace Maas.Core.Llm;

/// <summary>Which model file to load and how to run it.</summary>
public sealed record LlmModelSpec
{
    /// <summary>The registry name of the model.</summary>
    public required string Name { get; init; }

    /// <summary>The registry version.</summary>
    public required int Version { get; init; }

    /// <summary>The GGUF file on local disk.</summary>
    public required string Path { get; init; }

    /// <summary>Parallel sequences decoded together (llama.cpp slots).</summary>
    public int Slots { get; init; } = 4;

    /// <summary>Context tokens per slot (prompt plus completion of one request).</summary>
    public int ContextPerSlot { get; init; } = 2048;

    /// <summary>The most prompt tokens decoded in one step, shared by all sequences.</summary>
    public int BatchSize { get; init; } = 512;

    /// <summary>Requests that may wait for a free slot before callers get 429.</summary>
    public int QueueLimit { get; init; } = 64;

    /// <summary>Embeddings requests that may wait while the embedder computes another before callers get 429.</summary>
    public int EmbeddingQueueLimit { get; init; } = 16;

    /// <summary>The longest an embeddings request may wait for the embedder, in milliseconds, before it gets 504.</summary>
    public int EmbeddingQueueTimeoutMs { get; init; } = 60_000;

    /// <summary>Compute threads; 0 uses every core.</summary>
    public int Threads { get; init; }

    /// <summary>Keep finished sequences' KV for reuse by later requests with the same prefix.</summary>
    public bool PrefixCache { get; init; } = true;

    /// <summary>
    /// One KV buffer for all slots (llama.cpp's kv_unified) instead of one per slot (the default). A unified buffer
    /// shares prefixes across slots without copying (and the shared cells are read once per step for all of them) but
    /// makes every token's attention walk the cells of every slot; per-slot buffers keep each token to its own cells.
    /// </summary>
    public bool UnifiedKvCache { get; init; }

    /// <summary>How new prompts join the decode steps (see <see cref="LlmPromptAdmission"/>).</summary>
    public LlmPromptAdmission PromptAdmission { get; init; }

    /// <summary>
    /// The most prompt tokens a staggered step decodes (its token budget, filled fewest tokens left first); a longer
    /// prompt goes on in chunks over the next steps.
    /// </summary>
    public int PromptChunkTokens { get; init; } = 64;

    /// <summary>
    /// Staggered: a step's prompt budget grows by <see cref="PromptChunkTokens"/> for every this many cold prompts
    /// waiting, less than half of each cached (0: a fixed budget; see <see cref="PromptStepPlanner.BudgetFor"/>).
    /// </summary>
    public int PromptBurstPrompts { get; init; } = 2;

    /// <summary>
    /// Bytes of host memory for prompts' KV saved when their slot is overwritten, restored when a later prompt starts
    /// with them (0 = off).
    /// </summary>
    public long PromptCacheBytes { get; init; }

    /// <summary>
    /// Spare buffers for saved states kept beside the host prompt cache (at most a sixteenth of its budget): those
    /// handed back by restored or dropped entries, and, once the engine has saved and then stands idle, new ones made
    /// ahead so the next saves write into memory already touched (0: none kept, every save writes into new memory).
    /// </summary>
    public int PromptCacheSpareBuffers { get; init; } = 16;

    /// <summary>
    /// Reuse cached KV by text (see <see cref="PromptTextMatcher"/>): when a prompt's text starts with what a slot or a
    /// host prompt cache entry holds up to a token boundary, its cached tokens (an earlier answer's generated tokens
    /// included) stand for that text, though the prompt tokenized it differently.
    /// </summary>
    public bool PromptReuseByText { get; init; }

    /// <summary>
    /// Whether a step admits new prompts fewest tokens left first up to <see cref="PromptChunkTokens"/> (see
    /// <see cref="PromptStepPlanner"/>) rather than every waiting one: everything but
    /// <see cref="LlmPromptAdmission.Batched"/> staggers.
    /// </summary>
    public bool StaggersPrompts => PromptAdmission != LlmPromptAdmission.Batched;
}
