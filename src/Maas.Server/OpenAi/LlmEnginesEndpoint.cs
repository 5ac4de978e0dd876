using Maas.Core.Llm;

namespace Maas.Server.OpenAi;

/// <summary><c>GET /api/v1/llm/engines</c>: the loaded LLM engines with their batching, prefix-cache and KV statistics.</summary>
internal static class LlmEnginesEndpoint
{
    public static IResult List(LlmEngineManager manager) =>
        Results.Json(manager.Loaded().Select(e => new
        {
            model = e.Name,
            version = e.Version,
            active_requests = e.ActiveRequests,
            idle_since = e.IdleSince,
            info = new
            {
                architecture = e.Engine.Info.Architecture,
                description = e.Engine.Info.Description,
                slots = e.Engine.Info.Slots,
                context_per_slot = e.Engine.Info.ContextPerSlot,
                train_context = e.Engine.Info.TrainContext,
                vocabulary_size = e.Engine.Info.VocabularySize,
                embedding_size = e.Engine.Info.EmbeddingSize,
                chat_format = e.Engine.Info.ChatFormat,
                kv_cache = e.Engine.Info.KvCache,
                prompt_admission = e.Engine.Info.PromptAdmission,
                loaded_at = e.Engine.Info.LoadedAt,
            },
            statistics = Statistics(e.Engine.GetStatistics()),
        }));

    private static object Statistics(LlmEngineStatistics s) => new
    {
        steps = s.Steps,
        batch_tokens = s.BatchTokens,
        batch_sequences = s.BatchSequences,
        multi_sequence_steps = s.MultiSequenceSteps,
        max_sequences_per_step = s.MaxSequencesPerStep,
        prompt_steps = s.PromptSteps,
        max_prompts_per_step = s.MaxPromptsPerStep,
        tokens_per_step = s.TokensPerStep,
        sequences_per_step = s.SequencesPerStep,
        prompt_tokens = s.PromptTokens,
        cached_prompt_tokens = s.CachedPromptTokens,
        generated_tokens = s.GeneratedTokens,
        completed_requests = s.CompletedRequests,
        cancelled_requests = s.CancelledRequests,
        running = s.Running,
        waiting = s.Waiting,
        kv_cells_used = s.KvCellsUsed,
        kv_cells = s.KvCells,
        kv_fill = s.KvFill,
        prompt_cache_saves = s.PromptCacheSaves,
        prompt_cache_hits = s.PromptCacheHits,
        prompt_cache_restored_tokens = s.PromptCacheRestoredTokens,
        prompt_cache_evictions = s.PromptCacheEvictions,
        prompt_cache_entries = s.PromptCacheEntries,
        prompt_cache_bytes = s.PromptCacheBytes,
        prompt_cache_budget_bytes = s.PromptCacheBudgetBytes,
        memory_bytes = s.MemoryBytes,
    };
}
