namespace Maas.Core.Llm;

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
