namespace Maas.Core.Llm;

/// <summary>Token counts of one request; cached prompt tokens were reused from the prefix cache, not recomputed.</summary>
/// <param name="PromptTokens">Tokens in the prompt.</param>
/// <param name="CompletionTokens">Tokens generated.</param>
/// <param name="CachedPromptTokens">Prompt tokens whose KV came from the prefix cache.</param>
public sealed record LlmUsage(int PromptTokens, int CompletionTokens, int CachedPromptTokens)
{
    /// <summary>Prompt plus completion.</summary>
    public int TotalTokens => PromptTokens + CompletionTokens;

    /// <summary>The sum of several usages (n &gt; 1 choices share one prompt, counted once).</summary>
    public static LlmUsage Combine(IReadOnlyList<LlmUsage> parts) =>
        parts.Count == 0
            ? new LlmUsage(0, 0, 0)
            : new LlmUsage(parts[0].PromptTokens, parts.Sum(p => p.CompletionTokens), parts[0].CachedPromptTokens);
}
