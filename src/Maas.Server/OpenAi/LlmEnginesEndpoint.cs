using Maas.Core.Llm;
using Maas.Server.Auth;

namespace Maas.Server.OpenAi;

/// <summary>
/// <c>GET /api/v1/llm/engines</c>: the loaded LLM engines with their batching, prefix-cache and KV statistics; a
/// caller sees the engines of the models it may see (admins all).
/// </summary>
internal static class LlmEnginesEndpoint
{
    public static async Task<IResult> List(HttpContext context, LlmEngineManager manager, EmbeddingQueues embeddings)
    {
        var visible = new List<LoadedLlmEngine>();
        foreach (var engine in manager.Loaded())
        {
            if (context.GetCaller() is null or { IsAdmin: true }
                || (await context.CheckModelKeyAccessAsync(engine.Name, write: false, context.RequestAborted)).Result == ModelAccessResult.Allowed)
            {
                visible.Add(engine);
            }
        }

        return Describe(visible, context.CallerTenant(), embeddings);
    }

    // Each engine's model named as the caller names it: short for its own tenant's, owner/name for another's.
    private static IResult Describe(IEnumerable<LoadedLlmEngine> engines, string tenant, EmbeddingQueues embeddings) =>
        Results.Json(engines.Select(e => new
        {
            model = Maas.Core.Registry.ModelKeys.RelativeTo(e.Name, tenant),
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
            embedding_queue = EmbeddingQueue(embeddings.For(e.Engine, e.Spec)),
        }));

    private static object EmbeddingQueue(EmbeddingQueue queue) => new
    {
        running = queue.Running,
        waiting = queue.Waiting,
        limit = queue.Limit,
        timeout_ms = (long)queue.Timeout.TotalMilliseconds,
    };

    private static object Statistics(LlmEngineStatistics s) => new
    {
        steps = s.Steps,
        decode_passes = s.DecodePasses,
        passes_per_step = s.PassesPerStep,
        batch_tokens = s.BatchTokens,
        batch_sequences = s.BatchSequences,
        multi_sequence_steps = s.MultiSequenceSteps,
        max_sequences_per_step = s.MaxSequencesPerStep,
        prompt_steps = s.PromptSteps,
        max_prompts_per_step = s.MaxPromptsPerStep,
        max_prompt_tokens_per_step = s.MaxPromptTokensPerStep,
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
        prompt_cache_spare_bytes = s.PromptCacheSpareBytes,
        prompts_reused_by_text = s.PromptsReusedByText,
        memory_bytes = s.MemoryBytes,
    };
}
