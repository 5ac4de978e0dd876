using Maas.Core.Llm;

namespace Maas.Runtimes.Llama.Serving;

/// <summary>
/// The KV cache manager of the generation context: which request holds which slot (KV sequence), what every slot
/// holds (the prefix index), where a new request goes (the slot planner), and eviction of idle slots' prefixes.
/// </summary>
/// <remarks>Runs on the engine loop thread only.</remarks>
internal sealed class LlamaKvCache
{
    // Cells idle slots' cached prefixes may always keep in a unified cache (see TrimIdle).
    private const int IdleCacheFloor = 512;

    private readonly LlamaContext _context;
    private readonly LlmModelSpec _spec;
    private readonly LlamaSequence?[] _occupants;
    private readonly PrefixCacheIndex _index = new();
    private readonly KvSlotPlanner _planner;
    private readonly Func<int, bool> _idle;

    public LlamaKvCache(LlamaContext context, LlmModelSpec spec)
    {
        _context = context;
        _spec = spec;
        _occupants = new LlamaSequence?[spec.Slots];
        _planner = new KvSlotPlanner(spec.Slots, spec.UnifiedKvCache, spec.PrefixCache);
        _idle = Idle;
    }

    /// <summary>The number of slots.</summary>
    public int Slots => _occupants.Length;

    /// <summary>True when no request runs in the slot.</summary>
    public bool Idle(int slot) => _occupants[slot] is null;

    /// <summary>How many leading tokens of <paramref name="prompt"/> some slot holds.</summary>
    public int LongestCached(int[] prompt) => _index.FindLongest(prompt)?.Length ?? 0;

    /// <summary>Picks the slot for a new sequence and reuses as much cached KV as its prompt allows.</summary>
    public void Place(LlamaSequence sequence)
    {
        var prompt = sequence.Prompt;
        var memory = _context.Memory;
        var (target, reuse, copyFrom) = _planner.Plan(prompt, _index, _idle);

        // At least the last prompt token is decoded again: its logits start the generation.
        reuse = Math.Min(reuse, prompt.Length - 1);
        if (copyFrom is { } from)
        {
            _index.Remove(target);
            reuse = memory.CopyPrefix(from, target, reuse) ? reuse : 0;
            if (reuse > 0)
            {
                _index.Append(target, prompt.AsSpan(0, reuse));
            }
        }
        else if (!memory.Remove(target, reuse, -1))
        {
            // Some caches (recurrent, sliding-window) cannot drop a tail: start the slot over.
            memory.Remove(target);
            _index.Remove(target);
            reuse = 0;
        }
        else
        {
            _index.Truncate(target, reuse);
        }

        _index.Touch(target);
        _occupants[target] = sequence;
        sequence.Slot = target;
        sequence.PromptCursor = reuse;
        sequence.Position = reuse;
        sequence.Cached = reuse;
    }

    /// <summary>Records tokens just decoded into a slot's KV.</summary>
    public void Appended(int slot, ReadOnlySpan<int> tokens) => _index.Append(slot, tokens);

    /// <summary>The request left its slot; the slot keeps its KV as a cached prefix for later requests.</summary>
    public void Vacate(int slot)
    {
        _occupants[slot] = null;
        _index.Touch(slot);
    }

    /// <summary>Drops a slot's KV (half written after a failed step, say).</summary>
    public void Forget(int slot)
    {
        _context.Memory.Remove(slot);
        _index.Remove(slot);
    }

    // Shared prefixes share cells in the unified cache, as they share nodes in the index; per-slot buffers each
    // hold their own copy.

    /// <summary>KV cells in use.</summary>
    public int CellsUsed()
    {
        if (_spec.UnifiedKvCache)
        {
            return _index.NodeCount;
        }

        var cells = 0;
        for (var slot = 0; slot < _occupants.Length; slot++)
        {
            cells += _index.LengthOf(slot); // a plain loop: this runs every step
        }

        return cells;
    }

    /// <summary>Drops every idle slot's cached prefix (the cache ran full); true when any went.</summary>
    public bool EvictIdle()
    {
        var evicted = false;
        for (var slot = 0; slot < _occupants.Length; slot++)
        {
            if (Idle(slot) && _index.LengthOf(slot) > 0)
            {
                Forget(slot);
                evicted = true;
            }
        }

        return evicted;
    }

    /// <summary>
    /// In a unified cache every cell in use lengthens every token's attention walk (masked cells are skipped one by
    /// one), so idle slots' cached prefixes may hold about as many cells as the running sequences, at least
    /// IdleCacheFloor; beyond that the least recently used go. Cells shared with a running sequence stay whatever goes.
    /// </summary>
    public void TrimIdle()
    {
        var running = 0;
        for (var slot = 0; slot < _occupants.Length; slot++)
        {
            running += Idle(slot) ? 0 : _index.LengthOf(slot);
        }

        var budget = Math.Max(IdleCacheFloor, 2 * running);
        while (_index.NodeCount > budget && _index.LeastRecentlyUsed(id => Idle(id) && _index.LengthOf(id) > 0) is { } slot)
        {
            Forget(slot);
        }
    }
}
