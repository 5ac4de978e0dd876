namespace Maas.Core.Llm;

/// <summary>A prompt still being decoded, as the prompt step planner sees it.</summary>
/// <param name="Remaining">Prompt tokens not decoded yet (what the cache did not hold).</param>
/// <param name="PassedOver">Steps in a row it waited with tokens left and got none.</param>
public readonly record struct PendingPrompt(int Remaining, int PassedOver = 0);

/// <summary>
/// Which prompts join the next decode step and with how many tokens (chunked prefill), given the room the generating
/// sequences left in the batch. Pure: the engine carries the plan out.
/// </summary>
/// <remarks>
/// A step costs about the same per token whatever it holds, and every sequence in it gets its result only when the
/// whole step ends; so prompts batched together all wait for the longest, and a short prompt behind a long one waits
/// for both. Staggered, a step takes the prompt with the fewest tokens left first (a conversation's next turn, whose
/// earlier turns are cached, gets its first token after one short step rather than behind a cold prompt), and others
/// only whole and while the step then holds at most <see cref="PackFactor"/> times the first one's tokens (at least
/// <see cref="PackTokens"/>): the first token of the first waits for at most twice its own tokens of others, while a
/// wave of similar prompts goes two or three to a step instead of one each, since with per-slot KV buffers each step with a prompt costs llama.cpp a
/// pass of its own over the weights (one each, 16 cold prompts arriving together cost 16 such passes; staggered ran
/// at 0.91x batched's tokens/s at 16 streams). The first takes at most the chunk size, and the step never more: a longer prompt goes
/// on in chunks over the next steps, so whatever arrives meanwhile waits for one chunk, not for the whole prompt. A
/// prompt passed over <see cref="MaxPassOvers"/> steps in a row goes first, so a long one cannot starve. Batched
/// (llama-server's way), every prompt joins the next step in arrival order, up to the batch.
/// </remarks>
public sealed class PromptStepPlanner
{
    /// <summary>
    /// More prompts join a staggered step only whole and while it then holds at most <see cref="PackFactor"/> times the
    /// first prompt's tokens, or this many when that is more (and never more than the chunk).
    /// </summary>
    public const int PackTokens = 32;

    /// <summary>A staggered step holds at most this many times the tokens of its first prompt (see <see cref="PackTokens"/>).</summary>
    public const int PackFactor = 3;

    /// <summary>Steps in a row a staggered prompt may be passed over before it goes first.</summary>
    public const int MaxPassOvers = 8;

    /// <summary>A planner.</summary>
    /// <param name="staggered">Shortest prompt first, one per step (more only while few tokens), chunked; else every prompt in arrival order.</param>
    /// <param name="chunkTokens">The most prompt tokens a staggered step takes.</param>
    public PromptStepPlanner(bool staggered, int chunkTokens)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(chunkTokens, 1);
        Staggered = staggered;
        ChunkTokens = chunkTokens;
    }

    /// <summary>Whether prompts are staggered (see the remarks).</summary>
    public bool Staggered { get; }

    /// <summary>The most prompt tokens a staggered step takes.</summary>
    public int ChunkTokens { get; }

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
        var limit = Staggered ? Math.Min(capacity, ChunkTokens) : capacity;
        var used = 0;
        var prompts = 0;
        var pack = limit;
        Span<int> order = pending.Length <= 256 ? stackalloc int[pending.Length] : new int[pending.Length];
        Order(pending, order);
        foreach (var i in order)
        {
            var count = Math.Min(pending[i].Remaining, limit - used);
            if (count <= 0)
            {
                continue;
            }

            // Staggered, a second prompt joins only whole and while the first one's first token waits for at most twice its
            // own tokens of others (the step's tokens all finish together).
            if (Staggered && prompts > 0 && (count < pending[i].Remaining || used + count > pack))
            {
                continue;
            }

            if (Staggered && prompts == 0)
            {
                pack = Math.Min(limit, Math.Max(PackTokens, PackFactor * count));
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
