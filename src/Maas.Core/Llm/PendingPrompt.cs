namespace Maas.Core.Llm;

/// <summary>A prompt still being decoded, as the prompt step planner sees it.</summary>
/// <param name="Remaining">Prompt tokens not decoded yet (what the cache did not hold).</param>
/// <param name="PassedOver">Steps in a row it waited with tokens left and got none.</param>
/// <param name="Cold">Less than half of its prompt was cached: a prefill mostly to compute (not a conversation's next turn).</param>
public readonly record struct PendingPrompt(int Remaining, int PassedOver = 0, bool Cold = false);
