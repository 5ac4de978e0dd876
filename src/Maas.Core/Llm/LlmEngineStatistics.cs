namespace Maas.Core.Llm;

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
