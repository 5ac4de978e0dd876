namespace Maas.Core.Llm;

/// <summary>Server-wide LLM serving settings (section <c>Maas:Llm</c>); a model's serving config overrides the per-model ones.</summary>
public sealed class LlmServingOptions
{
    /// <summary>The configuration section.</summary>
    public const string Section = "Maas:Llm";

    /// <summary>Parallel sequences (slots) per loaded model, decoded together in one batch.</summary>
    public int Slots { get; set; } = 4;

    /// <summary>Context tokens per slot: the longest prompt plus completion of one request.</summary>
    public int ContextPerSlot { get; set; } = 2048;

    /// <summary>The most tokens (prompt chunks plus one per generating sequence) decoded in one step.</summary>
    public int BatchSize { get; set; } = 512;

    /// <summary>Requests per model that may wait for a free slot before callers get 429.</summary>
    public int QueueLimit { get; set; } = 64;

    /// <summary>
    /// Embeddings requests per model that may wait while its embedder computes another (it computes one at a time)
    /// before callers get 429; a model's embedding_queue_limit overrides it.
    /// </summary>
    public int EmbeddingQueueLimit { get; set; } = 16;

    /// <summary>
    /// The longest an embeddings request may wait for its model's embedder, in milliseconds, before it gets 504; a
    /// model's embedding_queue_timeout_ms overrides it.
    /// </summary>
    public int EmbeddingQueueTimeoutMs { get; set; } = 60_000;

    /// <summary>The largest max_tokens a request may ask for, and the cap when it asks for none (0 = context only).</summary>
    public int MaxTokensPerRequest { get; set; } = 4096;

    /// <summary>Server-wide: the most tokens (prompt plus max completion) all running requests may reserve (0 = unlimited).</summary>
    public long MaxTokensInFlight { get; set; }

    /// <summary>Unload a model after this many idle seconds (0 = keep loaded).</summary>
    public int KeepAliveSeconds { get; set; } = 300;

    /// <summary>Compute threads per model; 0 uses every core.</summary>
    public int Threads { get; set; }

    /// <summary>Reuse the KV of earlier requests that share a prompt prefix.</summary>
    public bool PrefixCache { get; set; } = true;

    /// <summary>One KV buffer shared by all slots (llama.cpp's kv_unified) instead of one per slot.</summary>
    public bool UnifiedKvCache { get; set; }

    /// <summary>How new prompts join the decode steps: all waiting ones together, or one after another.</summary>
    public LlmPromptAdmission PromptAdmission { get; set; }

    /// <summary>
    /// The most prompt tokens a staggered step decodes (its token budget, filled fewest tokens left first); a longer
    /// prompt goes on in chunks over the next steps.
    /// </summary>
    public int PromptChunkTokens { get; set; } = 64;

    /// <summary>
    /// Staggered admission: a step's prompt budget grows by <see cref="PromptChunkTokens"/> for every this many cold
    /// prompts waiting (less than half of each cached), so a burst of new chats is drained a few to a step while
    /// conversation turns go one a step (0: a fixed budget).
    /// </summary>
    public int PromptBurstPrompts { get; set; } = 2;

    /// <summary>
    /// Bytes of host memory per loaded model for prompts' KV saved when their slot is overwritten (0 = off; unset:
    /// <see cref="DefaultPromptCacheBytes"/>).
    /// </summary>
    public long? PromptCacheBytes { get; set; }

    /// <summary>
    /// Spare state buffers kept beside the host prompt cache (at most a sixteenth of its budget), made ahead while the
    /// engine is idle after it has saved: a save then writes into memory already touched (0 = none).
    /// </summary>
    public int PromptCacheSpareBuffers { get; set; } = 16;

    /// <summary>
    /// Reuse a slot's (or a saved prompt's) KV when the new prompt's text starts with its text, even when the prompt
    /// tokenized that text differently (a chat client resends the model's answer as text): the model's own tokens are
    /// kept for it (see <see cref="LlmModelSpec.PromptReuseByText"/>).
    /// </summary>
    public bool PromptReuseByText { get; set; } = true;

    /// <summary>The default host prompt cache: an eighth of the machine's memory, at most 8 GiB.</summary>
    public static long DefaultPromptCacheBytes => Math.Min(8L << 30, MachineMemoryBytes / 8);

    /// <summary>The memory this process may use (the machine's, or its container's limit).</summary>
    public static long MachineMemoryBytes => GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;

    /// <summary>The host prompt cache budget these settings give.</summary>
    public long EffectivePromptCacheBytes => PromptCacheBytes ?? DefaultPromptCacheBytes;

    /// <summary>Register the tiny demo LLM on first start with no LLM in the registry (unset: follows Maas:Inference:Demo).</summary>
    public bool Demo { get; set; } = true;

    /// <summary>The most stop strings one OpenAI request may give.</summary>
    public int MaxStopStrings { get; set; } = 16;

    /// <summary>The longest stop string, in characters.</summary>
    public int MaxStopLength { get; set; } = 256;

    /// <summary>The most <c>logit_bias</c> entries one OpenAI request may give (each becomes a sampler entry).</summary>
    public int MaxLogitBias { get; set; } = 300;

    /// <summary>The most prompts one /v1/completions request may carry.</summary>
    public int MaxPrompts { get; set; } = 64;

    /// <summary>The most choices (<c>n</c>) one request may ask for; each takes a slot of its own.</summary>
    public int MaxChoices { get; set; } = 16;

    /// <summary>The most functions one chat request's <c>tools</c> may hold.</summary>
    public int MaxTools { get; set; } = 128;

    /// <summary>The most inputs one /v1/embeddings request may carry.</summary>
    public int MaxEmbeddingInputs { get; set; } = 2048;

    /// <summary>The most tokens one /v1/embeddings request may carry, all inputs together (OpenAI's limit by default).</summary>
    public int MaxEmbeddingTokens { get; set; } = 300_000;

    /// <summary>The largest JSON schema (response_format, or all of a request's tools), in bytes of JSON.</summary>
    public int MaxSchemaBytes { get; set; } = 65536;

    /// <summary>The most grammar rules a schema may need once llama.cpp expands its repetitions.</summary>
    public int MaxGrammarRules { get; set; } = JsonSchemaGrammar.DefaultMaxRules;

    /// <summary>The problems with these settings, each naming its key; empty when valid.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        Check(errors, nameof(Slots), Slots, 1, 256);
        Check(errors, nameof(ContextPerSlot), ContextPerSlot, 16, 1 << 20);
        Check(errors, nameof(BatchSize), BatchSize, 1, 1 << 16);
        Check(errors, nameof(PromptChunkTokens), PromptChunkTokens, 1, 1 << 16);
        Check(errors, nameof(PromptBurstPrompts), PromptBurstPrompts, 0, 1024);
        Check(errors, nameof(PromptCacheSpareBuffers), PromptCacheSpareBuffers, 0, 1024);
        Check(errors, nameof(QueueLimit), QueueLimit, 0, 1_000_000);
        Check(errors, nameof(EmbeddingQueueLimit), EmbeddingQueueLimit, 0, 1_000_000);
        Check(errors, nameof(EmbeddingQueueTimeoutMs), EmbeddingQueueTimeoutMs, 1, 3_600_000);
        Check(errors, nameof(MaxTokensPerRequest), MaxTokensPerRequest, 0, 1 << 22);
        Check(errors, nameof(KeepAliveSeconds), KeepAliveSeconds, 0, 31_536_000);
        Check(errors, nameof(Threads), Threads, 0, 1024);
        Check(errors, nameof(MaxStopStrings), MaxStopStrings, 0, 1024);
        Check(errors, nameof(MaxStopLength), MaxStopLength, 1, 65536);
        Check(errors, nameof(MaxPrompts), MaxPrompts, 1, 65536);
        Check(errors, nameof(MaxChoices), MaxChoices, 1, 1024);
        Check(errors, nameof(MaxTools), MaxTools, 1, 65536);
        Check(errors, nameof(MaxEmbeddingInputs), MaxEmbeddingInputs, 1, 1_000_000);
        Check(errors, nameof(MaxEmbeddingTokens), MaxEmbeddingTokens, 1, 100_000_000);
        Check(errors, nameof(MaxLogitBias), MaxLogitBias, 0, 1_000_000);
        Check(errors, nameof(MaxSchemaBytes), MaxSchemaBytes, 1024, 16 << 20);
        Check(errors, nameof(MaxGrammarRules), MaxGrammarRules, 256, 1_000_000);
        if (!Enum.IsDefined(PromptAdmission))
        {
            errors.Add($"{Section}:{nameof(PromptAdmission)} must be auto, batched or staggered, not {PromptAdmission}");
        }

        if (PromptCacheBytes is < 0 || PromptCacheBytes > MachineMemoryBytes)
        {
            errors.Add($"{Section}:{nameof(PromptCacheBytes)} must be between 0 (off) and this machine's memory ({MachineMemoryBytes} bytes), not {PromptCacheBytes}");
        }

        if (MaxTokensInFlight < 0)
        {
            errors.Add($"{Section}:{nameof(MaxTokensInFlight)} must be 0 (unlimited) or positive, not {MaxTokensInFlight}");
        }

        return errors;
    }

    private static void Check(List<string> errors, string key, int value, int min, int max)
    {
        if (value < min || value > max)
        {
            errors.Add($"{Section}:{key} must be between {min} and {max}, not {value}");
        }
    }
}
