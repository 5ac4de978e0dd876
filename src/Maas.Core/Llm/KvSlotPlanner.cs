namespace Maas.Core.Llm;

/// <summary>Where a new request runs: its slot, how many leading prompt tokens it reuses, and the slot to copy them from.</summary>
/// <param name="Target">The slot (KV sequence id) the request takes.</param>
/// <param name="Reuse">Leading prompt tokens whose KV is reused (already in the target, or copied into it).</param>
/// <param name="CopyFrom">The slot whose KV is copied into the target first; null when the target's own KV is reused.</param>
public readonly record struct SlotPlan(int Target, int Reuse, int? CopyFrom);

/// <summary>
/// The engine-neutral slot policy: which idle slot a new prompt takes and which cached prefix it reuses, decided
/// from the prefix index and which slots are busy. Pure: it changes nothing, the engine carries the plan out.
/// </summary>
public sealed class KvSlotPlanner
{
    // Copying a slot's whole KV buffer costs about as much as computing a few dozen prompt tokens.
    private const int CopyMinimum = 32;

    /// <summary>A planner for <paramref name="slots"/> slots.</summary>
    /// <param name="slots">The number of slots (sequence ids 0 to slots - 1).</param>
    /// <param name="unified">One KV buffer shared by all slots (a copy is metadata only) rather than one per slot.</param>
    /// <param name="prefixCache">Reuse cached prefixes at all.</param>
    public KvSlotPlanner(int slots, bool unified, bool prefixCache)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(slots, 1);
        Slots = slots;
        Unified = unified;
        PrefixCache = prefixCache;
    }

    /// <summary>The number of slots.</summary>
    public int Slots { get; }

    /// <summary>Whether the slots share one KV buffer.</summary>
    public bool Unified { get; }

    /// <summary>Whether cached prefixes are reused.</summary>
    public bool PrefixCache { get; }

    /// <summary>Plans the placement of <paramref name="prompt"/>; at least one slot must be idle.</summary>
    /// <param name="prompt">The new request's prompt tokens.</param>
    /// <param name="index">What each slot holds.</param>
    /// <param name="idle">Whether a slot has no running request.</param>
    public SlotPlan Plan(IReadOnlyList<int> prompt, PrefixCacheIndex index, Func<int, bool> idle)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        ArgumentNullException.ThrowIfNull(index);
        ArgumentNullException.ThrowIfNull(idle);
        return Unified ? PlanUnified(prompt, index, idle) : PlanPerSlot(prompt, index, idle);
    }

    // One buffer: the idle slot holding the longest prefix keeps its KV, unless a busy slot holds a longer one: then
    // a free slot takes a copy of that (a copy only tags the cells with one more sequence id).
    private SlotPlan PlanUnified(IReadOnlyList<int> prompt, PrefixCacheIndex index, Func<int, bool> idle)
    {
        var best = PrefixCache ? index.FindLongest(prompt) : null;
        var bestIdle = PrefixCache ? index.FindLongest(prompt, idle) : null;
        if (bestIdle is { } own && own.Length >= (best?.Length ?? 0))
        {
            return new SlotPlan(own.EntryId, own.Length, null);
        }

        // An empty slot first, else the least recently used idle one (its cached KV is evicted).
        var target = First(id => idle(id) && !index.Contains(id))
            ?? index.LeastRecentlyUsed(idle)
            ?? First(idle)!.Value;
        return best is { } shared && shared.EntryId != target ? new SlotPlan(target, shared.Length, shared.EntryId) : new SlotPlan(target, 0, null);
    }

    // Per-slot buffers: an idle slot next to the running ones (filling a gap first), so the running slots stay one
    // run of consecutive ids that llama.cpp decodes in one pass; among those, the one sharing the longest prefix,
    // else the least recently used. A longer prefix elsewhere is copied when it saves at least CopyMinimum tokens.
    private SlotPlan PlanPerSlot(IReadOnlyList<int> prompt, PrefixCacheIndex index, Func<int, bool> idle)
    {
        var anyRunning = First(id => !idle(id)) is not null;
        int Neighbours(int id) =>
            (id > 0 && !idle(id - 1) ? 1 : 0) + (id < Slots - 1 && !idle(id + 1) ? 1 : 0);
        var most = 0;
        for (var id = 0; id < Slots; id++)
        {
            if (idle(id))
            {
                most = Math.Max(most, Neighbours(id));
            }
        }

        bool Candidate(int id) => idle(id) && (!anyRunning || Neighbours(id) == most);
        var own = PrefixCache ? index.FindLongest(prompt, Candidate) : null;
        var target = own?.EntryId
            ?? First(id => Candidate(id) && !index.Contains(id))
            ?? index.LeastRecentlyUsed(Candidate)
            ?? First(Candidate)!.Value;
        var reuse = own?.Length ?? 0;
        var best = PrefixCache ? index.FindLongest(prompt) : null;
        return best is { } shared && shared.EntryId != target && shared.Length - reuse >= CopyMinimum
            ? new SlotPlan(target, shared.Length, shared.EntryId)
            : new SlotPlan(target, reuse, null);
    }

    private int? First(Func<int, bool> accepts)
    {
        for (var id = 0; id < Slots; id++)
        {
            if (accepts(id))
            {
                return id;
            }
        }

        return null;
    }
}
