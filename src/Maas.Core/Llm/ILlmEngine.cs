namespace Maas.Core.Llm;

/// <summary>A loaded LLM that generates and embeds: one engine per model version, shared by all its requests.</summary>
/// <remarks>
/// Requests submitted at any time join the running batch; each generation streams its events as tokens are sampled
/// and frees its sequence when the caller cancels. Implementations are thread-safe.
/// </remarks>
public interface ILlmEngine : IAsyncDisposable
{
    /// <summary>What the model is and how the engine runs it.</summary>
    LlmModelInfo Info { get; }

    /// <summary>Tokenizes text; <paramref name="addSpecial"/> adds BOS when the model wants it, <paramref name="parseSpecial"/> turns special-token text into special tokens.</summary>
    IReadOnlyList<int> Tokenize(string text, bool addSpecial, bool parseSpecial);

    /// <summary>The text of one token (for logit_bias checks and logprobs).</summary>
    string TokenText(int token);

    /// <summary>The text of a token sequence, characters split across tokens joined whole; special tokens shown only with <paramref name="renderSpecial"/>.</summary>
    string Detokenize(IReadOnlyList<int> tokens, bool renderSpecial);

    /// <summary>Renders a chat with the model's template (or the documented default) ending with the assistant's turn opened.</summary>
    string FormatChat(IReadOnlyList<ChatMessage> messages);

    /// <summary>Queues a generation; throws <see cref="LlmException"/> (queue full) at once when it cannot wait.</summary>
    IAsyncEnumerable<GenerationEvent> GenerateAsync(GenerationRequest request, CancellationToken cancellationToken);

    /// <summary>
    /// Queues generations that start together (the n choices of one call): the engine admits them at the same step,
    /// or throws <see cref="LlmException"/> (queue full) with none of them queued. One event stream per request.
    /// </summary>
    IReadOnlyList<IAsyncEnumerable<GenerationEvent>> GenerateTogether(IReadOnlyList<GenerationRequest> requests, CancellationToken cancellationToken);

    /// <summary>Pooled embeddings of token sequences, one vector each, L2-normalised when asked.</summary>
    Task<IReadOnlyList<float[]>> EmbedAsync(IReadOnlyList<IReadOnlyList<int>> inputs, bool normalize, CancellationToken cancellationToken);

    /// <summary>A snapshot of the engine's counters.</summary>
    LlmEngineStatistics GetStatistics();
}

/// <summary>Loads engines for model files (the llama.cpp runtime in the server).</summary>
public interface ILlmEngineFactory
{
    /// <summary>The engine's name in states, metrics and logs (e.g. <c>llama.cpp</c>).</summary>
    string Engine { get; }

    /// <summary>Loads the model and creates its engine; throws <see cref="LlmException"/> when the file cannot be served.</summary>
    Task<ILlmEngine> LoadAsync(LlmModelSpec spec, CancellationToken cancellationToken);
}

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

/// <summary>How an engine lets new prompts into its decode steps.</summary>
public enum LlmPromptAdmission
{
    /// <summary>
    /// Staggered with either KV layout: measured against llama-server it got the first token of interleaved
    /// conversations and of prompt bursts sooner without losing tokens/s (docs/benchmarks.md, issue #14).
    /// </summary>
    Auto,

    /// <summary>
    /// Every waiting prompt joins the next step, up to the batch size (llama-server's way). With per-slot KV buffers
    /// llama.cpp decodes a step's prompts in extra passes over the weights, so a wave of prompts costs few passes.
    /// </summary>
    Batched,

    /// <summary>
    /// Token-budgeted (as vLLM's chunked prefill): a step takes prompts fewest tokens left first until it holds
    /// <see cref="LlmModelSpec.PromptChunkTokens"/> prompt tokens, a longer one in chunks (see
    /// <see cref="PromptStepPlanner"/>): a mostly cached conversation turn gets its first token after one short step
    /// rather than behind cold prompts, and a burst of requests gets first tokens a budget at a time.
    /// </summary>
    Staggered,
}

/// <summary>What an engine knows about its model and how it runs it.</summary>
public sealed record LlmModelInfo
{
    /// <summary>The registry name.</summary>
    public required string Name { get; init; }

    /// <summary>The registry version.</summary>
    public required int Version { get; init; }

    /// <summary>GGUF general.architecture.</summary>
    public string Architecture { get; init; } = "";

    /// <summary>The model's own description (llama.cpp's model description string).</summary>
    public string Description { get; init; } = "";

    /// <summary>Context tokens per slot.</summary>
    public required int ContextPerSlot { get; init; }

    /// <summary>Parallel slots.</summary>
    public required int Slots { get; init; }

    /// <summary>The context length the model was trained with.</summary>
    public int TrainContext { get; init; }

    /// <summary>Vocabulary size.</summary>
    public int VocabularySize { get; init; }

    /// <summary>Embedding width.</summary>
    public int EmbeddingSize { get; init; }

    /// <summary>Where the chat format comes from: "gguf" (the model's template) or "chatml" (the default).</summary>
    public string ChatFormat { get; init; } = "chatml";

    /// <summary>The KV cache layout: "per-slot" (one buffer per slot) or "unified" (one buffer shared by all slots).</summary>
    public string KvCache { get; init; } = "per-slot";

    /// <summary>How new prompts join the decode steps: "batched" or "staggered".</summary>
    public string PromptAdmission { get; init; } = "batched";

    /// <summary>When the engine finished loading.</summary>
    public DateTimeOffset LoadedAt { get; init; }
}

/// <summary>Counters of an engine since it loaded; tests and metrics read them.</summary>
public sealed record LlmEngineStatistics
{
    /// <summary>Decode steps (one llama_decode each).</summary>
    public long Steps { get; init; }

    /// <summary>Micro-batches the steps were decoded in (passes over the weights; more than one per step when slots are apart).</summary>
    public long DecodePasses { get; init; }

    /// <summary>Tokens submitted over all steps (prompt chunks plus one per generating sequence).</summary>
    public long BatchTokens { get; init; }

    /// <summary>Sum over steps of the number of distinct sequences in the batch.</summary>
    public long BatchSequences { get; init; }

    /// <summary>Steps whose batch held tokens of two or more sequences.</summary>
    public long MultiSequenceSteps { get; init; }

    /// <summary>The most sequences seen in one batch.</summary>
    public int MaxSequencesPerStep { get; init; }

    /// <summary>Steps whose batch held prompt tokens.</summary>
    public long PromptSteps { get; init; }

    /// <summary>The most prompts (of different requests) seen in one batch.</summary>
    public int MaxPromptsPerStep { get; init; }

    /// <summary>The most prompt tokens seen in one batch (staggered: at most the prompt chunk size).</summary>
    public int MaxPromptTokensPerStep { get; init; }

    /// <summary>Prompt tokens of all requests.</summary>
    public long PromptTokens { get; init; }

    /// <summary>Prompt tokens reused from the prefix cache instead of being decoded.</summary>
    public long CachedPromptTokens { get; init; }

    /// <summary>Tokens generated.</summary>
    public long GeneratedTokens { get; init; }

    /// <summary>Requests finished (any reason).</summary>
    public long CompletedRequests { get; init; }

    /// <summary>Requests ended early because the caller went away.</summary>
    public long CancelledRequests { get; init; }

    /// <summary>Sequences generating now.</summary>
    public int Running { get; init; }

    /// <summary>Requests waiting for a slot.</summary>
    public int Waiting { get; init; }

    /// <summary>KV cells in use (shared prefixes count once).</summary>
    public int KvCellsUsed { get; init; }

    /// <summary>KV cells in the context.</summary>
    public int KvCells { get; init; }

    /// <summary>Prompts saved to the host prompt cache when their slot was overwritten.</summary>
    public long PromptCacheSaves { get; init; }

    /// <summary>Requests whose prompt prefix was restored from the host prompt cache.</summary>
    public long PromptCacheHits { get; init; }

    /// <summary>Requests whose prompt reused a cached sequence's tokens by text (see <see cref="LlmModelSpec.PromptReuseByText"/>).</summary>
    public long PromptsReusedByText { get; init; }

    /// <summary>Prompt tokens restored from the host prompt cache instead of being decoded (part of <see cref="CachedPromptTokens"/>).</summary>
    public long PromptCacheRestoredTokens { get; init; }

    /// <summary>Prompts dropped from the host prompt cache to stay within its budget.</summary>
    public long PromptCacheEvictions { get; init; }

    /// <summary>Prompts held in the host prompt cache now.</summary>
    public int PromptCacheEntries { get; init; }

    /// <summary>Bytes the host prompt cache holds now.</summary>
    public long PromptCacheBytes { get; init; }

    /// <summary>The host prompt cache's budget in bytes (0 = off).</summary>
    public long PromptCacheBudgetBytes { get; init; }

    /// <summary>Bytes of spare state buffers kept beside the host prompt cache for the next saves (and slot copies).</summary>
    public long PromptCacheSpareBytes { get; init; }

    /// <summary>The model's memory footprint: weights, KV cache, the host prompt cache's contents and its spare buffers.</summary>
    public long MemoryBytes { get; init; }

    /// <summary>Tokens per step on average.</summary>
    public double TokensPerStep => Steps == 0 ? 0 : (double)BatchTokens / Steps;

    /// <summary>Passes over the weights per step on average.</summary>
    public double PassesPerStep => Steps == 0 ? 0 : (double)DecodePasses / Steps;

    /// <summary>Sequences per step on average.</summary>
    public double SequencesPerStep => Steps == 0 ? 0 : (double)BatchSequences / Steps;

    /// <summary>The fraction of KV cells in use.</summary>
    public double KvFill => KvCells == 0 ? 0 : (double)KvCellsUsed / KvCells;
}
