namespace Maas.Core.Llm;

/// <summary>
/// The engine-neutral slot policy: which idle slot a new prompt takes and which cached prefix it reuses (the
/// target's own, another slot's by copy, or one saved in host memory), decided from the prefix index and which slots
/// are busy. Pure: it changes nothing, the engine carries the plan out.
/// </summary>
/// <remarks>
/// Every idle slot is weighed in token-equivalents: prompt tokens still to compute, plus the cost of a copy or a
/// restore, plus the tokens of another conversation the slot would lose (with a host prompt cache that saves them
/// first, a save and a later restore instead), plus a decode pass per step (for the steps
/// the request may run) when per-slot buffers leave the slot apart from the running ones. So a conversation's next turn goes back to its own slot
/// (nothing lost, most reused), and a prompt sharing only a common preamble (a template, a system prompt) with a
/// slot takes an empty slot rather than cost that slot's conversation its KV; the same prompt again goes back to the
/// slot that evaluated it (its old answer is moot) rather than to a copy. With every slot holding something,
/// the least recently used one is stale: losing it costs nothing here (the engine saves it to host memory first).
/// </remarks>
public sealed class KvSlotPlanner
{
    /// <summary>Copying a whole per-slot KV buffer costs about as much as computing this many prompt tokens.</summary>
    public const int PerSlotCopyCost = 32;

    /// <summary>A restore from host memory is a memory copy: cheap, but not free.</summary>
    public const int RestoreCost = 16;

    /// <summary>
    /// Saving a slot to host memory before it is overwritten copies its whole state out, in the new request's way
    /// (the trace in docs/benchmarks.md saw saves take 2-3 times as long as restores): what the slot held is then not
    /// lost but costs this plus a <see cref="RestoreCost"/> when its conversation comes back.
    /// </summary>
    public const int SaveCost = 40;

    /// <summary>
    /// With per-slot buffers llama.cpp decodes each run of consecutive sequence ids in one pass; a slot apart from the
    /// running ones adds a pass over the weights to every step it runs in, each counted as this many prompt tokens
    /// (a pass for a few tokens re-reads every weight: on the benchmark's 270M Q8_0 model with 2 threads a one-token
    /// step takes 10-11 ms where a prompt token in a large batch takes 5-6 ms).
    /// </summary>
    public const int ExtraPassCostPerStep = 2;

    /// <summary>
    /// The steps an extra pass is counted for: the request's max_tokens, at most this many (an answer usually ends
    /// before a large max_tokens; past this the pass outweighs any prefix a slot may lose anyway).
    /// </summary>
    public const int MaxCountedSteps = 256;

    /// <summary>A planner for <paramref name="slots"/> slots.</summary>
    /// <param name="slots">The number of slots (sequence ids 0 to slots - 1).</param>
    /// <param name="unified">One KV buffer shared by all slots (a copy is metadata only, a step one pass) rather than one per slot.</param>
    /// <param name="prefixCache">Reuse cached prefixes at all.</param>
    /// <param name="hostCache">
    /// A slot is saved to a host prompt cache before it is overwritten when <see cref="HostPromptCache.WorthSaving"/>
    /// says so: its tokens then cost a save and a later restore, not their recomputation.
    /// </param>
    public KvSlotPlanner(int slots, bool unified, bool prefixCache, bool hostCache = false)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(slots, 1);
        Slots = slots;
        Unified = unified;
        PrefixCache = prefixCache;
        HostCache = prefixCache && hostCache;
    }

    /// <summary>The number of slots.</summary>
    public int Slots { get; }

    /// <summary>Whether the slots share one KV buffer.</summary>
    public bool Unified { get; }

    /// <summary>Whether cached prefixes are reused.</summary>
    public bool PrefixCache { get; }

    /// <summary>Whether a slot's content is saved to host memory before it is overwritten (see the constructor).</summary>
    public bool HostCache { get; }

    /// <summary>Plans the placement of <paramref name="prompt"/>; at least one slot must be idle.</summary>
    /// <param name="prompt">The new request's prompt tokens.</param>
    /// <param name="index">What each slot holds.</param>
    /// <param name="idle">Whether a slot has no running request.</param>
    /// <param name="host">The longest prefix of the prompt saved in host memory (entry and length), if any.</param>
    /// <param name="steps">The most tokens the request may generate: the steps a slot apart from the running ones would cost a pass in.</param>
    /// <exception cref="InvalidOperationException">No slot is idle.</exception>
    public SlotPlan Plan(IReadOnlyList<int> prompt, PrefixCacheIndex index, Func<int, bool> idle, PrefixMatch? host = null, int steps = MaxCountedSteps)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        ArgumentNullException.ThrowIfNull(index);
        ArgumentNullException.ThrowIfNull(idle);

        // The last prompt token is decoded again, its logits starting the generation, unless the entry kept those
        // logits from when it evaluated this very prompt: then nothing is decoded before the first token.
        var limit = Math.Max(0, prompt.Count - 1);
        var shared = new int[Slots];
        var repeats = new bool[Slots];
        var continues = new bool[Slots];
        var anyRunning = false;
        var anyEmpty = false;
        for (var id = 0; id < Slots; id++)
        {
            var common = PrefixCache ? CommonPrefix(index.TokensOf(id), prompt) : 0;
            repeats[id] = common == prompt.Count && index.OutputAt(id) == prompt.Count;

            // The new prompt holds the whole prompt the slot last evaluated: what follows there is that request's
            // answer, part of this prompt as far as the client sent it back the same, moot beyond (its text
            // tokenized again differently, or another branch of the conversation). Nothing another conversation needs.
            continues[id] = index.OutputAt(id) > 0 && common >= index.OutputAt(id);
            shared[id] = repeats[id] ? common : Math.Min(common, limit);
            anyRunning |= !idle(id);
            anyEmpty |= idle(id) && index.LengthOf(id) == 0;
        }

        // With no empty slot, the least recently used idle one is stale: its loss is not counted.
        var stale = anyEmpty ? null : index.LeastRecentlyUsed(id => idle(id) && index.LengthOf(id) > 0);
        var hostReuse = PrefixCache && host is { } h
            ? (h.Complete && h.Length == prompt.Count ? h.Length : Math.Min(h.Length, limit))
            : 0;

        SlotPlan? best = null;
        var bestCost = long.MaxValue;
        for (var target = 0; target < Slots; target++)
        {
            if (!idle(target))
            {
                continue;
            }

            // The same prompt as the slot last evaluated: what follows it there is the old answer, moot now.
            var lost = target == stale || repeats[target] || continues[target] ? 0 : index.LengthOf(target) - shared[target];

            // Saved to host memory first (the engine's rule), the tokens are not lost: a save now and a restore when
            // their conversation comes back, never more than recomputing them.
            if (HostCache && HostPromptCache.WorthSaving(index.LengthOf(target), shared[target], index.OutputAt(target)))
            {
                lost = Math.Min(lost, SaveCost + RestoreCost);
            }

            long fixedCost = lost + PassCost(target, anyRunning, idle, steps);

            var (plan, cost) = CheapestPrefix(target, prompt.Count, shared, host, hostReuse);

            // Ties: the slot with more running neighbours (filling a gap first), then the lower id.
            var total = ((fixedCost + cost) * 4) + (2 - Neighbours(target, idle));
            if (total < bestCost)
            {
                best = plan;
                bestCost = total;
            }
        }

        return best ?? throw new InvalidOperationException("no slot is idle");
    }

    // How target gets its prefix most cheaply: its own in place, a longer one copied from another slot, or one
    // restored from host memory; the cost counts the prompt tokens left to decode.
    private (SlotPlan Plan, long Cost) CheapestPrefix(int target, int promptLength, int[] shared, PrefixMatch? host, int hostReuse)
    {
        var plan = new SlotPlan(target, shared[target], null);
        long cost = promptLength - shared[target];
        for (var other = 0; other < Slots; other++)
        {
            var copyCost = promptLength - shared[other] + (Unified ? 1 : PerSlotCopyCost);
            if (other != target && shared[other] > shared[target] && copyCost < cost)
            {
                plan = new SlotPlan(target, shared[other], other);
                cost = copyCost;
            }
        }

        if (PrefixCache && host is { } entry && promptLength - hostReuse + RestoreCost < cost)
        {
            plan = new SlotPlan(target, hostReuse, null, entry.EntryId);
            cost = promptLength - hostReuse + RestoreCost;
        }

        return (plan, cost);
    }

    // Per-slot buffers: a slot with no running neighbour starts one more run of consecutive ids (one more pass per
    // step), one with a running neighbour on each side joins two runs into one (a pass fewer).
    // Over the steps the request may run: a pass per step costs far more than most prefixes a neighbouring slot holds
    // (64 tokens for the whole request, as this was, left 8 streams over 16 slots in 2-3 runs per step under churn).
    private long PassCost(int target, bool anyRunning, Func<int, bool> idle, int steps) =>
        Unified || !anyRunning ? 0 : (1 - Neighbours(target, idle)) * (long)ExtraPassCostPerStep * Math.Clamp(steps, 1, MaxCountedSteps);

    private int Neighbours(int id, Func<int, bool> idle) =>
        (id > 0 && !idle(id - 1) ? 1 : 0) + (id < Slots - 1 && !idle(id + 1) ? 1 : 0);

    private static int CommonPrefix(IReadOnlyList<int> a, IReadOnlyList<int> b)
    {
        var n = Math.Min(a.Count, b.Count);
        var i = 0;
        while (i < n && a[i] == b[i])
        {
            i++;
        }

        return i;
    }
}
