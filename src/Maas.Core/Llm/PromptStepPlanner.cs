namespace Maas.Core.Llm;

/// <summary>
/// Which prompts join the next decode step and with how many tokens (chunked prefill), given the room the generating
/// sequences left in the batch. Pure: the engine carries the plan out.
/// </summary>
/// <remarks>
/// A step costs about the same per token whatever it holds, and every sequence in it gets its result only when the
/// whole step ends; so prompts batched together all wait for the longest, and a short prompt behind a long one waits
/// for both. Staggered (token-budgeted, as vLLM's chunked prefill with max_num_batched_tokens), a step takes prompts
/// in order of fewest tokens left until it holds the chunk size's worth of prompt tokens: a conversation's next turn,
/// whose earlier turns are cached, gets its first token after one short step rather than behind a cold prompt, while
/// a wave of similar prompts still goes several to a step (with per-slot KV buffers each prompt in a step costs
/// llama.cpp a pass of its own over the weights, so one prompt per step would cost a pass per prompt and per step
/// of its wait). The last prompt that fits only in part is chunked, when at least <see cref="PackTokens"/> of it fit
/// (a smaller chunk would cost that pass for little), and goes on over the next steps, so whatever arrives meanwhile
/// waits for one budget's worth of tokens, not for the whole prompt. A prompt passed over
/// <see cref="MaxPassOvers"/> steps in a row goes first, so a long one cannot starve. Batched (llama-server's way),
/// every prompt joins the next step in arrival order, up to the batch.
/// </remarks>
public sealed class PromptStepPlanner
{
    /// <summary>
    /// The fewest tokens of a prompt a staggered step starts as a chunk after another prompt (a prompt that fits whole
    /// always joins while the budget has room).
    /// </summary>
    public const int PackTokens = 32;

    /// <summary>Steps in a row a staggered prompt may be passed over before it goes first.</summary>
    public const int MaxPassOvers = 8;

    /// <summary>A planner.</summary>
    /// <param name="staggered">Fewest tokens left first, up to <paramref name="chunkTokens"/> a step, chunked; else every prompt in arrival order.</param>
    /// <param name="chunkTokens">The most prompt tokens a staggered step takes (its token budget) while few prompts wait.</param>
    /// <param name="burstPrompts">
    /// Staggered: the budget grows by <paramref name="chunkTokens"/> for every this many cold prompts waiting beyond
    /// the first this many (0: a fixed budget); see <see cref="BudgetFor"/>.
    /// </param>
    public PromptStepPlanner(bool staggered, int chunkTokens, int burstPrompts = 0)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(chunkTokens, 1);
        ArgumentOutOfRangeException.ThrowIfNegative(burstPrompts);
        Staggered = staggered;
        ChunkTokens = chunkTokens;
        BurstPrompts = burstPrompts;
    }

    /// <summary>Whether prompts are staggered (see the remarks).</summary>
    public bool Staggered { get; }

    /// <summary>The most prompt tokens a staggered step takes while at most <see cref="BurstPrompts"/> cold prompts wait.</summary>
    public int ChunkTokens { get; }

    /// <summary>Cold prompts waiting per <see cref="ChunkTokens"/> of a staggered step's budget (0: one budget whatever waits).</summary>
    public int BurstPrompts { get; }

    /// <summary>
    /// A staggered step's prompt token budget with <paramref name="cold"/> cold prompts waiting (see
    /// <see cref="PendingPrompt.Cold"/>): <see cref="ChunkTokens"/> for each started <see cref="BurstPrompts"/> of them.
    /// A conversation's next turn, mostly cached, goes in a short step of its own (its first token after its own few
    /// tokens, and whatever arrives meanwhile waits for a short step), however many turns wait; a burst of cold
    /// prompts (many clients starting at once) is drained a few to a step, as llama.cpp decodes similar prompts in
    /// neighbouring slots in one pass over the weights where one a step costs a pass each and leaves the streams
    /// apart (measured: plain chats from 8 clients 0.90x llama-server's tokens/s with one budget, 1.18x in bursts;
    /// interleaved conversations' first token 0.36x with one budget, 0.58x when every waiting turn counted).
    /// </summary>
    public int BudgetFor(int cold) =>
        BurstPrompts == 0 || cold <= BurstPrompts ? ChunkTokens : (int)Math.Min(int.MaxValue, (long)ChunkTokens * ((cold + BurstPrompts - 1) / BurstPrompts));

    /// <summary>
    /// Plans the prompt part of the next step: <paramref name="chunks"/>[i] gets the tokens of
    /// <paramref name="pending"/>[i] (listed in arrival order) the step decodes, 0 for none.
    /// </summary>
    /// <param name="pending">The prompts with tokens left, oldest first.</param>
    /// <param name="capacity">Room in the batch after the generating sequences' tokens.</param>
    /// <param name="chunks">One entry per pending prompt, written.</param>
    /// <returns>The prompts in the step.</returns>
    public int Plan(ReadOnlySpan<PendingPrompt> pending, int capacity, Span<int> chunks)
    {
        if (chunks.Length < pending.Length)
        {
            throw new ArgumentException("one chunk per pending prompt", nameof(chunks));
        }

        chunks[..pending.Length].Clear();
        var cold = 0;
        foreach (var prompt in pending)
        {
            cold += prompt.Cold ? 1 : 0;
        }

        var limit = Staggered ? Math.Min(capacity, BudgetFor(cold)) : capacity;
        var used = 0;
        var prompts = 0;
        Span<int> order = pending.Length <= 256 ? stackalloc int[pending.Length] : new int[pending.Length];
        Order(pending, order);
        foreach (var i in order)
        {
            var count = Math.Min(pending[i].Remaining, limit - used);
            if (count <= 0)
            {
                continue;
            }

            // Staggered, a prompt after the first is chunked only when enough of it fits to be worth its pass.
            if (Staggered && prompts > 0 && count < pending[i].Remaining && count < PackTokens)
            {
                continue;
            }

            chunks[i] = count;
            used += count;
            prompts++;
        }

        return prompts;
    }

    // Arrival order, or staggered: prompts passed over too long first, then fewest tokens left, then arrival.
    private void Order(ReadOnlySpan<PendingPrompt> pending, Span<int> order)
    {
        for (var i = 0; i < order.Length; i++)
        {
            order[i] = i;
        }

        if (!Staggered)
        {
            return;
        }

        // Insertion sort: a handful of prompts (at most the slots), stable, no allocation.
        for (var i = 1; i < order.Length; i++)
        {
            var item = order[i];
            var j = i - 1;
            while (j >= 0 && Before(pending[item], pending[order[j]]))
            {
                order[j + 1] = order[j];
                j--;
            }

            order[j + 1] = item;
        }
    }

    private static bool Before(PendingPrompt a, PendingPrompt b)
    {
        var aStarved = a.PassedOver >= MaxPassOvers;
        var bStarved = b.PassedOver >= MaxPassOvers;
        if (aStarved != bStarved)
        {
            return aStarved;
        }

        // Among starved prompts the one waiting longest goes first; among the others the shortest.
        return aStarved ? a.PassedOver > b.PassedOver : a.Remaining < b.Remaining;
    }
}
